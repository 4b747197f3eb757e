//! Reading projected records from files: Avro object container files (schema in the header)
//! and framed files of Confluent messages (`[u32 big-endian length][message]…`, schemas from a
//! [`SchemaStore`]). The format is detected from the first bytes.
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

mod framed;
mod ocf;
mod read_ahead;
mod window;

pub use framed::{write_framed, FramedReader};
pub use ocf::OcfReader;
pub use read_ahead::{FileRecords, ReadAhead};

use super::error::{DecodeError, InvalidSchema, SchemaMismatch};
use super::projection::{DecodedEvent, Projection};
use super::store::SchemaStore;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use window::Window;

/// The read buffer of a file: 64 KiB, a few blocks of the generator's files per read.
const READ_BUFFER: usize = 64 << 10;

/// The first bytes of an Avro object container file.
pub const OCF_MAGIC: [u8; 4] = *b"Obj\x01";

/// The two file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Avro object container file.
    Ocf,
    /// Length-prefixed Confluent messages.
    Framed,
}

/// Detects the format from the first bytes: `Obj\x01` is an object container file, anything
/// else is read as framed messages.
pub fn detect_format(head: &[u8]) -> FileFormat {
    if head.starts_with(&OCF_MAGIC) {
        FileFormat::Ocf
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
            ReadError::Record { error, .. } => error.reason(),
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
            ReadError::Record { .. } => Some(1),
            ReadError::CorruptBlock { lost, .. } => *lost,
            ReadError::Truncated { .. } | ReadError::Io { .. } => None,
        }
    }

    /// Whether reading should stop whatever the bad-record policy: the file cannot be read on,
    /// or the schema source failed fatally (see [`DecodeError::is_fatal`]), so every later
    /// record would fail too.
    pub fn is_fatal(&self) -> bool {
        match self {
            ReadError::Record { error, .. } => error.is_fatal(),
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
}

/// Either reader, chosen from the file's first bytes, reading the file through a buffer.
#[derive(Debug)]
pub enum RecordReader {
    /// An object container file.
    Ocf(Box<OcfReader>),
    /// A framed file.
    Framed(Box<FramedReader>),
}

impl RecordReader {
    /// Opens `path`: an object container file is decoded with its header schema; a framed file
    /// needs `schema_dir` (see [`SchemaStore::from_dir`]).
    pub fn open(
        path: &Path,
        projection: Projection,
        schema_dir: Option<&Path>,
    ) -> Result<Self, FileError> {
        let io = |source| FileError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // Only a regular file's size is its length (a pipe's is 0).
        let meta = file.metadata().map_err(io)?;
        let len = meta.is_file().then_some(meta.len());
        let mut window = Window::new(BufReader::with_capacity(READ_BUFFER, file), len);
        window.fill_to(OCF_MAGIC.len() as u64).map_err(io)?;
        let named = |e| match e {
            FileError::Read(source) => io(source),
            e => e,
        };
        match detect_format(window.tail(0)) {
            FileFormat::Ocf => Ok(RecordReader::Ocf(Box::new(
                OcfReader::from_window(window, &projection).map_err(named)?,
            ))),
            FileFormat::Framed => {
                let dir = schema_dir
                    .ok_or_else(|| FileError::NeedsSchemas(path.display().to_string()))?;
                let store = SchemaStore::from_dir(dir, projection)?;
                Ok(RecordReader::Framed(Box::new(FramedReader::from_window(
                    window, store,
                ))))
            }
        }
    }

    /// The file's format.
    pub fn format(&self) -> FileFormat {
        match self {
            RecordReader::Ocf(_) => FileFormat::Ocf,
            RecordReader::Framed(_) => FileFormat::Framed,
        }
    }

    /// Decodes the next record into `out`; `None` at the end of the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        match self {
            RecordReader::Ocf(r) => r.read_next(out),
            RecordReader::Framed(r) => r.read_next(out),
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
