//! Reading projected records from files: Avro object container files (schema in the header),
//! framed files of Confluent messages (`[u32 big-endian length][message]…`, schemas from a
//! [`SchemaStore`]), JSON Lines, CSV and Parquet. The format is the one asked for, else the
//! file name's extension says it (`.jsonl`/`.ndjson`, `.csv`, `.parquet`), else the first
//! bytes (`PAR1`: Parquet; `Obj\x01`: object container file; anything else: framed). Every
//! format decodes into the same [`DecodedEvent`]s, with the types of the spec's schema (see
//! [`columns`]).
//!
//! Files are read incrementally through a [`BufReader`]: one block of an object container
//! file, or one framed message, is held at a time, so memory follows the largest block, not
//! the file (a regular file's lengths are checked against its size before anything is
//! buffered, so a corrupt length does not pull in the rest of the file). A bad record is
//! reported with its position and reading goes on with the next record wherever the framing
//! allows it: in a framed file every message is delimited, so only the bad message is lost; in
//! an object container file the records of a block are not delimited, so a malformed record
//! loses the rest of its block (except a string that is not UTF-8: its length says where it
//! ends, so only its record is lost), and a corrupt block is skipped by resynchronising on the
//! sync marker, keeping every intact block after it (the bytes from the corrupt block to the
//! next marker are buffered while it is searched for). Blocks may use any codec of the Avro
//! specification (null, deflate, snappy, zstandard, bzip2, xz), each bounded to 256 MiB
//! decompressed.

mod columns;
mod counting;
mod csv_file;
mod framed;
mod jsonl;
mod ocf;
mod parquet_file;
mod read_ahead;
mod window;

pub use counting::{BytesRead, CountingRead};
pub use csv_file::CsvReader;
pub use framed::{write_framed, FramedReader};
pub use jsonl::JsonlReader;
pub use ocf::OcfReader;
pub use parquet_file::ParquetReader;
pub use read_ahead::{FileRecords, ReadAhead};

use super::error::{DecodeError, InvalidSchema, SchemaMismatch};
use super::projection::{DecodedEvent, Projection};
use super::store::SchemaStore;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use window::Window;

/// The read buffer of a file: 64 KiB, a few blocks of the generator's files per read.
const READ_BUFFER: usize = 64 << 10;

/// How a [`RecordReader`] reads its file: buffered, counting the bytes read.
pub type FileSource = BufReader<CountingRead<File>>;

/// The first bytes of an Avro object container file.
pub const OCF_MAGIC: [u8; 4] = *b"Obj\x01";

/// The first (and last) bytes of an Apache Parquet file.
pub const PARQUET_MAGIC: [u8; 4] = *b"PAR1";

/// The input file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Avro object container file.
    Ocf,
    /// Length-prefixed Confluent messages.
    Framed,
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// The format a file name's extension names (`.jsonl`/`.ndjson`, `.csv`, `.parquet`, case
    /// ignored); `None` for any other name (Avro or framed: the first bytes tell).
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(FileFormat::Jsonl),
            "csv" => Some(FileFormat::Csv),
            "parquet" => Some(FileFormat::Parquet),
            _ => None,
        }
    }

    /// What a file of this format must hold, for the message of a run that read nothing.
    pub fn expectation(self) -> &'static str {
        match self {
            FileFormat::Ocf | FileFormat::Framed => {
                "check that the file is an Avro object container file or a file of \
                 length-prefixed Confluent messages (with --schemas) holding records of the \
                 spec's schema"
            }
            FileFormat::Jsonl => {
                "check that the file holds one JSON object per line with the fields the spec \
                 reads, of the spec's types (or give --input-format)"
            }
            FileFormat::Csv => {
                "check that the file is CSV with a header row naming the fields the spec reads, \
                 holding values of the spec's types (or give --input-format)"
            }
            FileFormat::Parquet => "check that the file's columns hold values of the spec's types",
        }
    }
}

/// Detects the format from the first bytes: `PAR1` is Parquet, `Obj\x01` an object container
/// file, anything else is read as framed messages.
pub fn detect_format(head: &[u8]) -> FileFormat {
    if head.starts_with(&OCF_MAGIC) {
        FileFormat::Ocf
    } else if head.starts_with(&PARQUET_MAGIC) {
        FileFormat::Parquet
    } else {
        FileFormat::Framed
    }
}

/// Where a record is in its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// A message of a framed file.
    Message {
        /// Ordinal of the message in the file, from 0.
        index: u64,
        /// Byte offset of the message's length prefix.
        offset: u64,
    },
    /// A record of an object container file.
    Block {
        /// Ordinal of the record in the file, from 0 (records lost in corrupt blocks are not
        /// counted).
        index: u64,
        /// Ordinal of the block, from 0.
        block: u64,
        /// Byte offset of the block in the file.
        offset: u64,
        /// Ordinal of the record within its block.
        in_block: u64,
    },
    /// A line of a JSON Lines or CSV file.
    Line {
        /// The line's number, from 1 (a CSV row's first line).
        line: u64,
    },
    /// A row of a Parquet file.
    Row {
        /// Ordinal of the row in the file, from 0.
        index: u64,
        /// Ordinal of its row group, from 0.
        row_group: u64,
        /// Ordinal of the row within its row group, from 0.
        row: u64,
    },
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Message { index, offset } => write!(f, "message {index} (byte {offset})"),
            Position::Block {
                index,
                block,
                offset,
                in_block,
            } => {
                write!(
                    f,
                    "record {index} (record {in_block} of block {block} at byte {offset})"
                )
            }
            Position::Line { line } => write!(f, "line {line}"),
            Position::Row {
                index,
                row_group,
                row,
            } => write!(
                f,
                "row group {row_group}, row {row} (row {index} of the file)"
            ),
        }
    }
}

/// A problem with one record or with the file's framing, found while reading.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// This record cannot be decoded; reading continues with the next record.
    #[error("{at}: {error}")]
    Record {
        /// The record's position.
        at: Position,
        /// Why it cannot be decoded.
        error: DecodeError,
    },
    /// This record of a JSON Lines, CSV or Parquet file cannot be read; reading continues with
    /// the next. The message names the file, the line or row, the column, the value and what
    /// the field takes.
    #[error("{file} {at}, {error}")]
    Row {
        /// The file, as given.
        file: Arc<str>,
        /// The record's position.
        at: Position,
        /// Why it cannot be read.
        error: DecodeError,
    },
    /// Part of an object container file is unreadable; `lost` records were skipped and reading
    /// resumes at the next intact block, if any.
    #[error("{at}: corrupt block, {} skipped: {detail}", describe_lost(*.lost))]
    CorruptBlock {
        /// Where the corruption was found.
        at: Position,
        /// Records known to be lost (`None` when the block header itself is unreadable).
        lost: Option<u64>,
        /// What is wrong.
        detail: String,
    },
    /// The file's framing is broken here; nothing after this point can be read.
    #[error("{at}: unreadable from here on: {detail}")]
    Truncated {
        /// Where the framing broke.
        at: Position,
        /// What is wrong.
        detail: String,
    },
    /// Reading the file failed here; reading stops.
    #[error("{at}: cannot read the file on: {source}")]
    Io {
        /// What was being read.
        at: Position,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn describe_lost(lost: Option<u64>) -> String {
    match lost {
        Some(1) => "1 record".to_owned(),
        Some(n) => format!("{n} records"),
        None => "an unknown number of records".to_owned(),
    }
}

impl ReadError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ReadError::Record { error, .. } | ReadError::Row { error, .. } => error.reason(),
            ReadError::CorruptBlock { .. } => "corrupt_block",
            ReadError::Truncated { .. } => "truncated_file",
            ReadError::Io { .. } => "io_error",
        }
    }

    /// How many records the problem cost: 1 for a bad record, the known count of a corrupt
    /// block's skipped records, `None` when unknown (an unreadable block header or the rest of
    /// a broken file).
    pub fn records_lost(&self) -> Option<u64> {
        match self {
            ReadError::Record { .. } | ReadError::Row { .. } => Some(1),
            ReadError::CorruptBlock { lost, .. } => *lost,
            ReadError::Truncated { .. } | ReadError::Io { .. } => None,
        }
    }

    /// Whether reading should stop whatever the bad-record policy: the file cannot be read on,
    /// or the schema source failed fatally (see [`DecodeError::is_fatal`]), so every later
    /// record would fail too.
    pub fn is_fatal(&self) -> bool {
        match self {
            ReadError::Record { error, .. } | ReadError::Row { error, .. } => error.is_fatal(),
            ReadError::Io { .. } => true,
            ReadError::CorruptBlock { .. } | ReadError::Truncated { .. } => false,
        }
    }

    /// Whether the record is of a type the spec does not read (see
    /// [`DecodeError::is_other_record_type`]).
    pub fn is_other_record_type(&self) -> bool {
        matches!(self, ReadError::Record { error, .. } if error.is_other_record_type())
    }

    /// Where the problem is.
    pub fn position(&self) -> Position {
        match self {
            ReadError::Record { at, .. }
            | ReadError::Row { at, .. }
            | ReadError::CorruptBlock { at, .. }
            | ReadError::Truncated { at, .. }
            | ReadError::Io { at, .. } => *at,
        }
    }
}

/// A file that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading the file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Reading a stream failed (the file's name is added when it is opened by path: `Io`).
    #[error("cannot read the input: {0}")]
    Read(std::io::Error),
    /// The object container file header is malformed.
    #[error("bad Avro object container file header: {0}")]
    BadHeader(String),
    /// The file's block codec is not supported.
    #[error("unsupported Avro codec `{0}` (supported: {codecs})", codecs = ocf::CODECS)]
    UnsupportedCodec(String),
    /// The writer schema in the header is invalid.
    #[error(transparent)]
    InvalidSchema(#[from] InvalidSchema),
    /// The projection does not fit the file's writer schema.
    #[error("the file's writer schema does not fit: {0}")]
    Mismatch(#[from] SchemaMismatch),
    /// A framed file was given without schemas to decode it.
    #[error("{0} holds framed Confluent messages (it does not start with `Obj\\x01`); give a schema directory (`<id>.avsc` files) to decode them")]
    NeedsSchemas(String),
    /// A JSON Lines, CSV or Parquet file that cannot be read as the spec needs (a missing
    /// column, a column of another type, a damaged Parquet footer).
    #[error("cannot read {file} as {format}: {detail}")]
    Format {
        /// The file.
        file: String,
        /// `JSON Lines`, `CSV` or `Parquet`.
        format: &'static str,
        /// What is wrong, and what would be valid.
        detail: String,
    },
}

/// The reader of one of the formats, reading the file through a buffer.
#[derive(Debug)]
pub enum RecordReader {
    /// An object container file.
    Ocf(Box<OcfReader<FileSource>>),
    /// A framed file.
    Framed(Box<FramedReader<FileSource>>),
    /// A JSON Lines file.
    Jsonl(Box<JsonlReader>),
    /// A CSV file.
    Csv(Box<CsvReader>),
    /// A Parquet file.
    Parquet(Box<ParquetReader>),
}

impl RecordReader {
    /// Opens `path` in the format its extension names, else the one its first bytes show: an
    /// object container file is decoded with its header schema; a framed file needs
    /// `schema_dir` (see [`SchemaStore::from_dir`]).
    pub fn open(
        path: &Path,
        projection: Projection,
        schema_dir: Option<&Path>,
    ) -> Result<Self, FileError> {
        Self::open_with(path, projection, schema_dir, None, &BytesRead::default())
    }

    /// [`RecordReader::open`] in `format` when given (`--input-format`), whatever the file's
    /// name.
    pub fn open_as(
        path: &Path,
        projection: Projection,
        schema_dir: Option<&Path>,
        format: Option<FileFormat>,
    ) -> Result<Self, FileError> {
        Self::open_with(path, projection, schema_dir, format, &BytesRead::default())
    }

    /// [`RecordReader::open`], adding the bytes read from the file to `bytes_read` as they are
    /// read (the reader's position in the file, give or take its 64 KiB buffer).
    pub fn open_counting(
        path: &Path,
        projection: Projection,
        schema_dir: Option<&Path>,
        bytes_read: &BytesRead,
    ) -> Result<Self, FileError> {
        Self::open_with(path, projection, schema_dir, None, bytes_read)
    }

    /// [`RecordReader::open_as`] counting the bytes read into `bytes_read` (Parquet files,
    /// read by row group with seeks, count nothing).
    pub fn open_with(
        path: &Path,
        projection: Projection,
        schema_dir: Option<&Path>,
        format: Option<FileFormat>,
        bytes_read: &BytesRead,
    ) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let named_as = format.or_else(|| FileFormat::from_extension(path));
        let file = match named_as {
            Some(f @ (FileFormat::Jsonl | FileFormat::Csv | FileFormat::Parquet)) => {
                return Self::open_rows(f, path, file, &projection, bytes_read)
            }
            _ => file,
        };
        // Only a regular file's size is its length (a pipe's is 0).
        let meta = file.metadata().map_err(io)?;
        let len = meta.is_file().then_some(meta.len());
        let source = CountingRead::new(file, bytes_read.clone());
        let mut window = Window::new(BufReader::with_capacity(READ_BUFFER, source), len);
        window.fill_to(OCF_MAGIC.len() as u64).map_err(io)?;
        let named = |e| match e {
            FileError::Read(source) => io(source),
            e => e,
        };
        let detected = format.unwrap_or_else(|| detect_format(window.tail(0)));
        if detected == FileFormat::Parquet {
            // Found by its magic bytes: opened again, the arrow reader seeks on its own.
            let file = File::open(path).map_err(io)?;
            return Self::open_rows(FileFormat::Parquet, path, file, &projection, bytes_read);
        }
        match detected {
            FileFormat::Ocf => Ok(RecordReader::Ocf(Box::new(
                OcfReader::from_window(window, &projection).map_err(named)?,
            ))),
            _ => {
                let dir = schema_dir
                    .ok_or_else(|| FileError::NeedsSchemas(path.display().to_string()))?;
                let store = SchemaStore::from_dir(dir, projection)?;
                Ok(RecordReader::Framed(Box::new(FramedReader::from_window(
                    window, store,
                ))))
            }
        }
    }

    /// Opens a JSON Lines or CSV file, else a Parquet file.
    fn open_rows(
        format: FileFormat,
        path: &Path,
        file: File,
        projection: &Projection,
        bytes_read: &BytesRead,
    ) -> Result<Self, FileError> {
        let name: Arc<str> = path.display().to_string().into();
        let counted = |file| {
            BufReader::with_capacity(READ_BUFFER, CountingRead::new(file, bytes_read.clone()))
        };
        match format {
            FileFormat::Jsonl => {
                let source = counted(file);
                JsonlReader::new(name, source, projection).map(|r| RecordReader::Jsonl(Box::new(r)))
            }
            FileFormat::Csv => {
                let source = counted(file);
                CsvReader::new(name, source, projection).map(|r| RecordReader::Csv(Box::new(r)))
            }
            _ => ParquetReader::new(name, file, projection)
                .map(|r| RecordReader::Parquet(Box::new(r))),
        }
    }

    /// The file's format.
    pub fn format(&self) -> FileFormat {
        match self {
            RecordReader::Ocf(_) => FileFormat::Ocf,
            RecordReader::Framed(_) => FileFormat::Framed,
            RecordReader::Jsonl(_) => FileFormat::Jsonl,
            RecordReader::Csv(_) => FileFormat::Csv,
            RecordReader::Parquet(_) => FileFormat::Parquet,
        }
    }

    /// Decodes the next record into `out`; `None` at the end of the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        match self {
            RecordReader::Ocf(r) => r.read_next(out),
            RecordReader::Framed(r) => r.read_next(out),
            RecordReader::Jsonl(r) => r.read_next(out),
            RecordReader::Csv(r) => r.read_next(out),
            RecordReader::Parquet(r) => r.read_next(out),
        }
    }
}

impl Iterator for RecordReader {
    type Item = Result<(Position, DecodedEvent), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut out = DecodedEvent::default();
        self.read_next(&mut out).map(|r| r.map(|at| (at, out)))
    }
}
