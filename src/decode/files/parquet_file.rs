//! Apache Parquet files, read through the parquet crate's arrow reader a batch of rows at a
//! time, decoding only the projected columns (a `ProjectionMask` of their leaves: the other
//! columns' pages are never read, whatever their type). A dotted path descends into struct
//! columns. Each column's type is checked against its field's when the file is opened: a
//! column of another type fails the run at once, naming the column and both types; a value
//! that does not fit (a string that is no enum symbol, a long beyond an int, a null in a field
//! that is not nullable) is a bad record.

use super::columns::{Cell, Column, Columns, Kind};
use super::{FileError, Position, ReadError};
use crate::decode::error::DecodeError;
use crate::decode::projection::{DecodedEvent, Projection};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Fields, TimeUnit as ArrowUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use spanflow_engine::TimeUnit;
use std::fs::File;
use std::sync::Arc;

/// Rows per batch the arrow reader decodes.
const BATCH_ROWS: usize = 4096;

/// How a column's values are read from its arrow array (decided once, from its type).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Get {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Bool,
    Utf8,
    LargeUtf8,
    Utf8View,
    /// A dictionary of (large) UTF-8 strings (pandas and Polars categoricals).
    Dict,
    Ts(ArrowUnit),
}

/// A column's arrays in the current batch.
struct Current {
    /// The struct arrays on the path (their nulls make the leaf null).
    parents: Vec<ArrayRef>,
    leaf: ArrayRef,
    /// A dictionary column's keys as indices into its values.
    keys: Vec<usize>,
}

/// Reads a Parquet file a batch at a time.
pub struct ParquetReader {
    file: Arc<str>,
    source: ParquetRecordBatchReader,
    columns: Columns,
    gets: Vec<Get>,
    batch: Vec<Current>,
    batch_rows: usize,
    /// Row within the batch.
    at: usize,
    /// Rows of the file read before this batch.
    before: u64,
    /// The first row of each row group.
    group_starts: Vec<u64>,
    ended: bool,
}

impl std::fmt::Debug for ParquetReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetReader")
            .field("file", &self.file)
            .field("gets", &self.gets)
            .finish()
    }
}

impl ParquetReader {
    /// Opens `source`, named `file` in messages: checks every projected column's type and
    /// reads only those columns.
    pub(super) fn new(
        file: Arc<str>,
        source: File,
        projection: &Projection,
    ) -> Result<Self, FileError> {
        let fail = |detail: String| FileError::Format {
            file: file.to_string(),
            format: "Parquet",
            detail,
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(source)
            .map_err(|e| fail(format!("not a readable Parquet file: {e}")))?;
        let mut columns = Columns::new(projection)?;
        let mut gets = Vec::with_capacity(columns.columns.len());
        let mut leaves = Vec::with_capacity(columns.columns.len());
        let schema = builder.parquet_schema();
        for c in &mut columns.columns {
            let ty = arrow_type(builder.schema().fields(), c).map_err(&fail)?;
            let get = getter(&ty, c).ok_or_else(|| {
                fail(format!(
                    "column `{}` has type {ty}, which cannot be read as {} (accepted: {})",
                    c.name,
                    c.expected(),
                    accepted(c)
                ))
            })?;
            if let Get::Ts(unit) = get {
                c.time_unit = Some(time_unit(unit));
            }
            gets.push(get);
            let parts: Vec<&str> = c.path.segments().iter().map(|s| s.as_str()).collect();
            let leaf = schema
                .columns()
                .iter()
                .position(|col| col.path().parts() == parts.as_slice())
                .ok_or_else(|| fail(format!("column `{}` is not a leaf column", c.name)))?;
            leaves.push(leaf);
        }
        let mut start = 0u64;
        let group_starts = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| {
                let s = start;
                start += u64::try_from(g.num_rows()).unwrap_or(0);
                s
            })
            .collect();
        let mask = ProjectionMask::leaves(schema, leaves);
        let source = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| fail(format!("cannot read its columns: {e}")))?;
        Ok(ParquetReader {
            file,
            source,
            columns,
            gets,
            batch: Vec::new(),
            batch_rows: 0,
            at: 0,
            before: 0,
            group_starts,
            ended: false,
        })
    }

    fn position(&self) -> Position {
        let index = self.before + self.at as u64;
        let group = self.group_starts.partition_point(|&s| s <= index).max(1) - 1;
        let start = self.group_starts.get(group).copied().unwrap_or(0);
        Position::Row {
            index,
            row_group: group as u64,
            row: index - start,
        }
    }

    /// Decodes the next row's record into `out`; `None` at the end of the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        while self.at == self.batch_rows {
            if self.ended {
                return None;
            }
            self.before += self.batch_rows as u64;
            self.at = 0;
            self.batch_rows = 0;
            match self.source.next() {
                None => {
                    self.ended = true;
                    return None;
                }
                Some(Ok(batch)) => {
                    if let Err(detail) = self.load(&batch) {
                        self.ended = true;
                        return Some(Err(ReadError::Truncated {
                            at: self.position(),
                            detail,
                        }));
                    }
                }
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(Err(ReadError::Truncated {
                        at: self.position(),
                        detail: format!("cannot decode the next rows: {e}"),
                    }));
                }
            }
        }
        let at = self.position();
        let row = self.at;
        self.at += 1;
        Some(
            self.fill(row, out)
                .map(|()| at)
                .map_err(|error| ReadError::Row {
                    file: self.file.clone(),
                    at,
                    error,
                }),
        )
    }

    /// Takes the projected arrays of a new batch.
    fn load(&mut self, batch: &RecordBatch) -> Result<(), String> {
        self.batch.clear();
        for (c, get) in self.columns.columns.iter().zip(&self.gets) {
            let segments = c.path.segments();
            let mut parents = Vec::with_capacity(segments.len() - 1);
            let mut array = batch
                .column_by_name(segments[0].as_str())
                .cloned()
                .ok_or_else(|| format!("the batch lacks column `{}`", segments[0]))?;
            for seg in &segments[1..] {
                let inner = array
                    .as_struct_opt()
                    .and_then(|s| s.column_by_name(seg.as_str()))
                    .cloned()
                    .ok_or_else(|| format!("the batch lacks column `{}`", c.name))?;
                parents.push(array);
                array = inner;
            }
            let keys = match get {
                Get::Dict => array
                    .as_any_dictionary_opt()
                    .map(|d| d.normalized_keys())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            self.batch.push(Current {
                parents,
                leaf: array,
                keys,
            });
        }
        self.batch_rows = batch.num_rows();
        Ok(())
    }

    fn fill(&self, row: usize, out: &mut DecodedEvent) -> Result<(), DecodeError> {
        self.columns.begin(out);
        for ((c, get), cur) in self.columns.columns.iter().zip(&self.gets).zip(&self.batch) {
            let cell = if cur.parents.iter().any(|p| p.is_null(row)) {
                Cell::Null
            } else {
                cell(*get, cur, row)
            };
            let raw = c.take(cell)?;
            self.columns.put(c, raw, out)?;
        }
        Ok(())
    }
}

/// The value in `row` of a column read with `get`.
fn cell(get: Get, cur: &Current, row: usize) -> Cell<'_> {
    let a = &cur.leaf;
    if a.is_null(row) {
        return Cell::Null;
    }
    let int = |i: i64| Cell::Int(i);
    match get {
        Get::I8 => int(a.as_primitive::<Int8Type>().value(row).into()),
        Get::I16 => int(a.as_primitive::<Int16Type>().value(row).into()),
        Get::I32 => int(a.as_primitive::<Int32Type>().value(row).into()),
        Get::I64 => int(a.as_primitive::<Int64Type>().value(row)),
        Get::U8 => int(a.as_primitive::<UInt8Type>().value(row).into()),
        Get::U16 => int(a.as_primitive::<UInt16Type>().value(row).into()),
        Get::U32 => int(a.as_primitive::<UInt32Type>().value(row).into()),
        Get::U64 => Cell::UInt(a.as_primitive::<UInt64Type>().value(row)),
        Get::F32 => Cell::Float(a.as_primitive::<Float32Type>().value(row).into()),
        Get::F64 => Cell::Float(a.as_primitive::<Float64Type>().value(row)),
        Get::Bool => Cell::Bool(a.as_boolean().value(row)),
        Get::Utf8 => Cell::Str(a.as_string::<i32>().value(row)),
        Get::LargeUtf8 => Cell::Str(a.as_string::<i64>().value(row)),
        Get::Utf8View => Cell::Str(a.as_string_view().value(row)),
        Get::Dict => {
            let Some(d) = a.as_any_dictionary_opt() else {
                return Cell::Null;
            };
            let key = cur.keys.get(row).copied().unwrap_or(0);
            let values = d.values();
            if values.is_null(key) {
                return Cell::Null;
            }
            match values.data_type() {
                DataType::LargeUtf8 => Cell::Str(values.as_string::<i64>().value(key)),
                _ => Cell::Str(values.as_string::<i32>().value(key)),
            }
        }
        Get::Ts(ArrowUnit::Second) => int(a.as_primitive::<TimestampSecondType>().value(row)),
        Get::Ts(ArrowUnit::Millisecond) => {
            int(a.as_primitive::<TimestampMillisecondType>().value(row))
        }
        Get::Ts(ArrowUnit::Microsecond) => {
            int(a.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        Get::Ts(ArrowUnit::Nanosecond) => {
            int(a.as_primitive::<TimestampNanosecondType>().value(row))
        }
    }
}

/// The arrow type of the field at `c`'s path.
fn arrow_type(fields: &Fields, c: &Column) -> Result<DataType, String> {
    let mut fields = fields.clone();
    let segments = c.path.segments();
    for (i, seg) in segments.iter().enumerate() {
        let Some((_, field)) = fields.find(seg.as_str()) else {
            let names: Vec<String> = fields.iter().map(|f| format!("`{}`", f.name())).collect();
            let within = if i == 0 {
                "the file".to_owned()
            } else {
                format!("struct `{}`", c.path.prefix(i))
            };
            return Err(format!(
                "{within} has no column `{seg}`, which the spec reads (`{}`, as {}); its columns: {}",
                c.name,
                c.expected(),
                names.join(", ")
            ));
        };
        if i + 1 == segments.len() {
            return Ok(field.data_type().clone());
        }
        match field.data_type() {
            DataType::Struct(inner) => fields = inner.clone(),
            other => {
                return Err(format!(
                    "column `{}` has type {other}, which has no field `{}` (the spec reads `{}`)",
                    c.path.prefix(i + 1),
                    segments[i + 1],
                    c.name
                ))
            }
        }
    }
    Err(format!("column `{}` has an empty path", c.name))
}

/// How to read `ty` for column `c`, if one of its kinds takes it.
fn getter(ty: &DataType, c: &Column) -> Option<Get> {
    let get = match ty {
        DataType::Int8 => Get::I8,
        DataType::Int16 => Get::I16,
        DataType::Int32 => Get::I32,
        DataType::Int64 => Get::I64,
        DataType::UInt8 => Get::U8,
        DataType::UInt16 => Get::U16,
        DataType::UInt32 => Get::U32,
        DataType::UInt64 => Get::U64,
        DataType::Float32 => Get::F32,
        DataType::Float64 => Get::F64,
        DataType::Boolean => Get::Bool,
        DataType::Utf8 => Get::Utf8,
        DataType::LargeUtf8 => Get::LargeUtf8,
        DataType::Utf8View => Get::Utf8View,
        DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) => {
            Get::Dict
        }
        // An instant: only the event time takes it (its unit is the timestamp's).
        DataType::Timestamp(unit, _) if c.is_time() && c.sinks.len() == 1 => Get::Ts(*unit),
        _ => return None,
    };
    c.kinds.iter().any(|k| takes(k, get)).then_some(get)
}

/// Whether values read with `get` can be of `kind` (each value is still checked: a `UINT64`
/// beyond a long, a string that is no enum symbol).
fn takes(kind: &Kind, get: Get) -> bool {
    use Get::*;
    let whole = matches!(get, I8 | I16 | I32 | I64 | U8 | U16 | U32 | U64 | Ts(_));
    match kind {
        Kind::Int => matches!(get, I8 | I16 | I32 | U8 | U16),
        Kind::Long => whole,
        // Whole numbers promote to floating point, as Avro's int and long do.
        Kind::Float | Kind::Number => whole || matches!(get, F32 | F64),
        Kind::Bool => get == Bool,
        Kind::Str | Kind::Enum(_) => matches!(get, Utf8 | LargeUtf8 | Utf8View | Dict),
    }
}

/// The Parquet/arrow types that `c` accepts, for messages.
fn accepted(c: &Column) -> String {
    let mut out: Vec<&str> = Vec::new();
    for k in &c.kinds {
        let names: &[&str] = match k {
            Kind::Int => &["Int8", "Int16", "Int32", "UInt8", "UInt16"],
            Kind::Long => &["any integer type"],
            Kind::Float | Kind::Number => &["Float32", "Float64", "any integer type"],
            Kind::Bool => &["Boolean"],
            Kind::Str | Kind::Enum(_) => &["Utf8", "LargeUtf8", "Utf8View", "a dictionary of Utf8"],
        };
        for n in names {
            if !out.contains(n) {
                out.push(n);
            }
        }
    }
    if c.is_time() && c.sinks.len() == 1 {
        out.push("Timestamp");
    }
    out.join(", ")
}

fn time_unit(unit: ArrowUnit) -> TimeUnit {
    match unit {
        ArrowUnit::Second => TimeUnit::Seconds,
        ArrowUnit::Millisecond => TimeUnit::Milliseconds,
        ArrowUnit::Microsecond => TimeUnit::Microseconds,
        ArrowUnit::Nanosecond => TimeUnit::Nanoseconds,
    }
}
