//! Framed files: a sequence of `[u32 big-endian length][Confluent message]`.

use super::{Position, ReadError};
use crate::decode::projection::DecodedEvent;
use crate::decode::store::SchemaStore;
use std::io::{self, Write};

/// Writes `messages` as a framed file; returns how many were written.
pub fn write_framed<W: Write>(
    mut w: W,
    messages: impl IntoIterator<Item = impl AsRef<[u8]>>,
) -> io::Result<u64> {
    let mut n = 0;
    for m in messages {
        let m = m.as_ref();
        let len = u32::try_from(m.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("message of {} bytes is too long to frame", m.len()),
            )
        })?;
        w.write_all(&len.to_be_bytes())?;
        w.write_all(m)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// Reads a framed file, decoding each message with the plan of its schema id.
#[derive(Debug)]
pub struct FramedReader {
    bytes: Vec<u8>,
    pos: usize,
    index: u64,
    store: SchemaStore,
}

impl FramedReader {
    /// A reader over the bytes of a framed file.
    pub fn new(bytes: Vec<u8>, store: SchemaStore) -> Self {
        FramedReader {
            bytes,
            pos: 0,
            index: 0,
            store,
        }
    }

    /// The schema store (e.g. to inspect which ids were seen).
    pub fn store(&self) -> &SchemaStore {
        &self.store
    }

    /// Decodes the next message into `out`; `None` at the end of the file. A bad message is
    /// reported and skipped; a broken length prefix ends the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        let rest = self.bytes.get(self.pos..).filter(|r| !r.is_empty())?;
        let at = Position::Message {
            index: self.index,
            offset: self.pos as u64,
        };
        let truncated = |detail: String| Some(Err(ReadError::Truncated { at, detail }));
        let Some((len, body)) = rest.split_first_chunk::<4>() else {
            self.pos = self.bytes.len();
            return truncated(format!(
                "{} stray bytes where a 4-byte length prefix was expected",
                rest.len()
            ));
        };
        let len = u32::from_be_bytes(*len) as usize;
        let Some(msg) = body.get(..len) else {
            self.pos = self.bytes.len();
            return truncated(format!(
                "the length prefix says {len} bytes but only {} remain (truncated file or corrupt length)",
                body.len()
            ));
        };
        self.pos += 4 + len;
        self.index += 1;
        Some(match self.store.decode(msg, out) {
            Ok(_) => Ok(at),
            Err(error) => Err(ReadError::Record { at, error }),
        })
    }
}

impl Iterator for FramedReader {
    type Item = Result<(Position, DecodedEvent), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut out = DecodedEvent::default();
        self.read_next(&mut out).map(|r| r.map(|at| (at, out)))
    }
}
