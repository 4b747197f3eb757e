//! File runs writing CSV or Parquet (`spanflow run --input FILE --format csv|parquet`).
//!
//! A table has one set of columns, and each output has its own, so every output gets its own
//! file: with one output, `--output` itself; with several, `--output rows.csv` becomes
//! `rows.<output name>.csv`, one per output (written even when it has no rows, so readers find
//! every file). The columns are those of the JSON rows: `output`, `session`, `time`, then the
//! output's columns. Every output is written to its file whatever its `sink` (as
//! `--stdout-only` does for JSON lines); a spec whose outputs go to Kafka or ScyllaDB needs
//! `--stdout-only` to say so. Each file is written to a temporary file beside it and renamed
//! into place when the run ends, like the JSON-lines output file (see [`RunOutput`]).

use crate::app::{process_file, FileRun, RunError, RunOptions, RunSummary};
use crate::config::RuntimeConfig;
use crate::output::scalar_to_json;
use crate::run_output::RunOutput;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use spanflow_engine::{Scalar, ValueType};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::spec::SinkSpec;
use spanflow_operators::Program;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The table formats of `run --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// CSV with a header row.
    Csv,
    /// Apache Parquet, snappy-compressed, typed columns.
    Parquet,
}

impl TableFormat {
    fn name(self) -> &'static str {
        match self {
            TableFormat::Csv => "csv",
            TableFormat::Parquet => "parquet",
        }
    }
}

/// Rows buffered per Parquet record batch before it goes to the writer.
const PARQUET_BATCH: usize = 8192;

/// Rows per Parquet row group: each is written to the file once full, so a run holds at most
/// one row group's encoded rows in memory.
const PARQUET_ROW_GROUP: usize = 65_536;

/// The file of each output: `output` itself for one output; `<stem>.<name>.<ext>` beside it
/// for several (`ext` the output's extension, else the format's).
pub fn output_paths(output: &Path, names: &[&str], format: TableFormat) -> Vec<PathBuf> {
    if names.len() == 1 {
        return vec![output.to_owned()];
    }
    let stem = output
        .file_stem()
        .map_or_else(|| "rows".into(), |s| s.to_string_lossy().into_owned());
    let ext = output.extension().map_or_else(
        || format.name().into(),
        |e| e.to_string_lossy().into_owned(),
    );
    names
        .iter()
        .map(|name| output.with_file_name(format!("{stem}.{name}.{ext}")))
        .collect()
}

/// Runs `program` over the input, writing each output's rows as `format` (the run's
/// `--format`); returns the summary and the rows written.
pub fn run_file(
    program: &Program,
    run: &FileRun<'_>,
    config: &RuntimeConfig,
    options: RunOptions<'_>,
    stop: &Arc<AtomicBool>,
    format: TableFormat,
) -> Result<(RunSummary, u64), RunError> {
    check_sinks(program, run.stdout_only, format)?;
    let names: Vec<&str> = program.outputs.iter().map(|o| o.name.as_str()).collect();
    let to_stdout = run.output == Path::new("-");
    if to_stdout && (format == TableFormat::Parquet || names.len() > 1) {
        return Err(RunError::Failed(format!(
            "--format {} needs --output FILE: {}",
            format.name(),
            if format == TableFormat::Parquet {
                "a Parquet file is not written to stdout".to_owned()
            } else {
                format!(
                    "the spec has {} outputs, each written to its own file (--output rows.csv \
                     writes rows.{}.csv, ...)",
                    names.len(),
                    names[0]
                )
            }
        )));
    }
    let outputs = if to_stdout {
        vec![RunOutput::Stdout]
    } else {
        output_paths(run.output, &names, format)
            .iter()
            .map(|p| RunOutput::create(p, run.input))
            .collect::<Result<Vec<_>, _>>()?
    };
    let result = write_tables(program, run, config, options, stop, format, &outputs);
    match result {
        Ok(done) => {
            for o in outputs {
                o.commit()?;
            }
            Ok(done)
        }
        Err(e) => {
            for o in outputs {
                o.discard();
            }
            Err(e)
        }
    }
}

/// A table output writes every output to files: outputs sent elsewhere need `--stdout-only`.
fn check_sinks(program: &Program, stdout_only: bool, format: TableFormat) -> Result<(), String> {
    let elsewhere: Vec<&str> = program
        .outputs
        .iter()
        .filter(|o| !matches!(o.sink, SinkSpec::Stdout))
        .map(|o| o.name.as_str())
        .collect();
    if stdout_only || elsewhere.is_empty() {
        return Ok(());
    }
    Err(format!(
        "--format {} writes every output to files, but output(s) {} send their rows to a sink \
         (Kafka or ScyllaDB); add --stdout-only to write them to files instead, or drop \
         --format to write to the sinks",
        format.name(),
        elsewhere.join(", ")
    ))
}

fn write_tables(
    program: &Program,
    run: &FileRun<'_>,
    config: &RuntimeConfig,
    options: RunOptions<'_>,
    stop: &Arc<AtomicBool>,
    format: TableFormat,
    outputs: &[RunOutput],
) -> Result<(RunSummary, u64), RunError> {
    let mut writers = outputs
        .iter()
        .zip(&program.outputs)
        .enumerate()
        .map(|(i, (o, plan))| {
            let columns = columns_of(program, i);
            let out: Box<dyn Write + Send> = match o.file() {
                None => Box::new(io::stdout()),
                Some(f) => Box::new(f.try_clone().map_err(|e| {
                    RunError::Failed(format!("cannot write --output {}: {e}", o.path().display()))
                })?),
            };
            TableWriter::new(format, out, &plan.name, columns).map_err(RunError::Failed)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut lookups = crate::lookup::FileLookups::connect(program, config, stop)?;
    let enricher = lookups.as_mut().map(|l| &mut l.enricher);
    let mut written = 0u64;
    let summary = process_file(
        program,
        run.input,
        run.schemas,
        enricher,
        options,
        |session, row| {
            written += 1;
            match writers.get_mut(row.output) {
                Some(w) => w.write(session, row),
                None => Ok(()),
            }
        },
    );
    if let Some(l) = &lookups {
        tracing::info!(stats = ?l.enricher.stats(), "Lookups.");
    }
    // Finished on error too: the rows written before it stay in the (discarded) output.
    let finished = writers.into_iter().try_for_each(TableWriter::finish);
    let summary = summary?;
    finished?;
    Ok((summary, written))
}

/// The output's columns with their types.
fn columns_of(program: &Program, output: usize) -> Vec<(String, ValueType)> {
    program.outputs[output]
        .columns
        .iter()
        .map(|c| {
            // Columns are checked to name nodes when the program is built.
            let ty = program.plan.node(c).map_or(ValueType::F64, |n| n.ty.value);
            (c.clone(), ty)
        })
        .collect()
}

fn write_error(what: &str, e: impl std::fmt::Display) -> RunError {
    RunError::Failed(format!("writing {what} rows: {e}"))
}

/// One output's file.
enum TableWriter {
    Csv(Box<CsvRows>),
    Parquet(Box<ParquetRows>),
}

/// CSV rows: the output's name, and the cells of a row, reused.
struct CsvRows {
    out: csv::Writer<BufWriter<Box<dyn Write + Send>>>,
    output: String,
    cells: Vec<String>,
}

impl TableWriter {
    fn new(
        format: TableFormat,
        out: Box<dyn Write + Send>,
        output: &str,
        columns: Vec<(String, ValueType)>,
    ) -> Result<Self, String> {
        match format {
            TableFormat::Csv => {
                let mut out = csv::Writer::from_writer(BufWriter::new(out));
                let header = ["output", "session", "time"]
                    .into_iter()
                    .chain(columns.iter().map(|(c, _)| c.as_str()));
                out.write_record(header)
                    .map_err(|e| format!("writing the CSV header: {e}"))?;
                Ok(TableWriter::Csv(Box::new(CsvRows {
                    out,
                    output: output.to_owned(),
                    cells: Vec::with_capacity(columns.len() + 3),
                })))
            }
            TableFormat::Parquet => Ok(TableWriter::Parquet(Box::new(ParquetRows::new(
                out, output, &columns,
            )?))),
        }
    }

    fn write(&mut self, session: &str, row: &Row) -> Result<(), RunError> {
        match self {
            TableWriter::Csv(c) => {
                let CsvRows { out, output, cells } = &mut **c;
                cells.clear();
                cells.push(output.clone());
                cells.push(session.to_owned());
                cells.push(row.time.to_string());
                cells.extend(row.values.iter().map(|v| csv_cell(v.as_ref())));
                out.write_record(cells.iter())
                    .map_err(|e| match e.into_kind() {
                        csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe => {
                            RunError::BrokenPipe
                        }
                        other => write_error("CSV", format!("{other:?}")),
                    })
            }
            TableWriter::Parquet(p) => p.write(session, row),
        }
    }

    fn finish(self) -> Result<(), RunError> {
        match self {
            TableWriter::Csv(mut c) => c.out.flush().map_err(|e| {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    RunError::BrokenPipe
                } else {
                    write_error("CSV", e)
                }
            }),
            TableWriter::Parquet(p) => p.finish(),
        }
    }
}

/// A value as a CSV cell: as in JSON rows (whole numbers without a fraction, `NaN`,
/// `Infinity`, `-Infinity`), strings unquoted, undefined an empty cell.
pub fn csv_cell(v: Option<&Scalar>) -> String {
    match scalar_to_json(v) {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// One column's values of the batch being built.
enum Builder {
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Str(StringBuilder),
}

/// Parquet rows: typed columns (`time` a UTC timestamp in milliseconds, numbers `DOUBLE`,
/// booleans `BOOLEAN`, strings `UTF8`; undefined is null), written a row group at a time.
struct ParquetRows {
    writer: ArrowWriter<Box<dyn Write + Send>>,
    schema: SchemaRef,
    output: String,
    sessions: StringBuilder,
    times: TimestampMillisecondBuilder,
    values: Vec<Builder>,
    rows: usize,
}

impl ParquetRows {
    fn new(
        out: Box<dyn Write + Send>,
        output: &str,
        columns: &[(String, ValueType)],
    ) -> Result<Self, String> {
        let mut fields = vec![
            Field::new("output", DataType::Utf8, false),
            Field::new("session", DataType::Utf8, false),
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ];
        let mut values = Vec::with_capacity(columns.len());
        for (name, ty) in columns {
            let (dt, b) = match ty {
                ValueType::Bool => (DataType::Boolean, Builder::Bool(BooleanBuilder::new())),
                ValueType::Str => (DataType::Utf8, Builder::Str(StringBuilder::new())),
                // Numbers; a record is never an output column.
                ValueType::F64 | ValueType::Record => {
                    (DataType::Float64, Builder::F64(Float64Builder::new()))
                }
            };
            fields.push(Field::new(name, dt, true));
            values.push(b);
        }
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
            .set_created_by(format!("spanflow {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))
            .map_err(|e| format!("starting the Parquet file of output {output}: {e}"))?;
        Ok(ParquetRows {
            writer,
            schema,
            output: output.to_owned(),
            sessions: StringBuilder::new(),
            times: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            values,
            rows: 0,
        })
    }

    fn write(&mut self, session: &str, row: &Row) -> Result<(), RunError> {
        self.sessions.append_value(session);
        self.times.append_value(row.time);
        for (b, v) in self.values.iter_mut().zip(&row.values) {
            match (b, v) {
                (Builder::F64(b), Some(Scalar::F64(x))) => b.append_value(*x),
                (Builder::Bool(b), Some(Scalar::Bool(x))) => b.append_value(*x),
                (Builder::Str(b), Some(Scalar::Str(x))) => b.append_value(x.as_str()),
                (Builder::F64(b), _) => b.append_null(),
                (Builder::Bool(b), _) => b.append_null(),
                (Builder::Str(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
        if self.rows == PARQUET_BATCH {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Hands the rows built so far to the writer (which writes a row group once it is full).
    fn flush_batch(&mut self) -> Result<(), RunError> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut outputs = StringBuilder::new();
        for _ in 0..self.rows {
            outputs.append_value(&self.output);
        }
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(outputs.finish()),
            Arc::new(self.sessions.finish()),
            Arc::new(self.times.finish()),
        ];
        for b in &mut self.values {
            arrays.push(match b {
                Builder::F64(b) => Arc::new(b.finish()),
                Builder::Bool(b) => Arc::new(b.finish()),
                Builder::Str(b) => Arc::new(b.finish()),
            });
        }
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| write_error("Parquet", e))?;
        self.writer
            .write(&batch)
            .map_err(|e| write_error("Parquet", e))
    }

    fn finish(mut self) -> Result<(), RunError> {
        self.flush_batch()?;
        let mut out = self
            .writer
            .into_inner()
            .map_err(|e| write_error("Parquet", e))?;
        out.flush().map_err(|e| write_error("Parquet", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_output_beside_the_given_one() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            output_paths(&p("out/rows.csv"), &["cir"], TableFormat::Csv),
            [p("out/rows.csv")]
        );
        assert_eq!(
            output_paths(&p("out/rows.csv"), &["a", "b"], TableFormat::Csv),
            [p("out/rows.a.csv"), p("out/rows.b.csv")]
        );
        assert_eq!(
            output_paths(&p("rows"), &["a", "b"], TableFormat::Parquet),
            [p("rows.a.parquet"), p("rows.b.parquet")]
        );
    }

    #[test]
    fn cells_follow_the_json_conventions() {
        assert_eq!(csv_cell(None), "");
        assert_eq!(csv_cell(Some(&Scalar::F64(5.0))), "5");
        assert_eq!(csv_cell(Some(&Scalar::F64(2.5))), "2.5");
        assert_eq!(csv_cell(Some(&Scalar::F64(f64::NAN))), "NaN");
        assert_eq!(csv_cell(Some(&Scalar::F64(f64::NEG_INFINITY))), "-Infinity");
        assert_eq!(csv_cell(Some(&Scalar::Bool(true))), "true");
        assert_eq!(csv_cell(Some(&Scalar::Str("a,b".into()))), "a,b");
    }
}
