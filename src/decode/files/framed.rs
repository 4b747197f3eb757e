//! Framed files: a sequence of `[u32 big-endian length][Confluent message]`, read one message
//! at a time.

use super::window::Window;
use super::{Position, ReadError};
use crate::decode::projection::DecodedEvent;
use crate::decode::store::SchemaStore;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::ops::Range;

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

const PREFIX_LEN: u64 = 4;

/// Reads a framed file, decoding each message with the plan of its schema id, pulling one
/// message at a time from `R` (a [`BufReader`] over the file by default).
#[derive(Debug)]
pub struct FramedReader<R = BufReader<File>> {
    window: Window<R>,
    /// Offset of the next message's length prefix.
    pos: u64,
    /// Nothing more can be read (the end of the file, or its framing or I/O broken).
    ended: bool,
    index: u64,
    store: SchemaStore,
}

impl<R: BufRead> FramedReader<R> {
    /// A reader over the framed file read from `source`.
    pub fn new(source: R, store: SchemaStore) -> Self {
        Self::from_window(Window::new(source, None), store)
    }

    /// [`FramedReader::new`] on a window at the start of the file.
    pub(super) fn from_window(window: Window<R>, store: SchemaStore) -> Self {
        FramedReader {
            window,
            pos: 0,
            ended: false,
            index: 0,
            store,
        }
    }

    /// The schema store (e.g. to inspect which ids were seen).
    pub fn store(&self) -> &SchemaStore {
        &self.store
    }

    /// The bytes allocated for buffering the file.
    #[cfg(test)]
    pub(crate) fn buffer_capacity(&self) -> usize {
        self.window.capacity()
    }

    /// Decodes the next message into `out`; `None` at the end of the file. A bad message is
    /// reported and skipped; a broken length prefix ends the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        if self.ended {
            return None;
        }
        let start = self.pos;
        let at = Position::Message {
            index: self.index,
            offset: start,
        };
        // The previous message is decoded.
        self.window.discard_before(start);
        let message = match self.frame(start) {
            Ok(Frame::Message(message)) => message,
            Ok(Frame::End) => {
                self.ended = true;
                return None;
            }
            Ok(Frame::Broken(detail)) => {
                self.ended = true;
                return Some(Err(ReadError::Truncated { at, detail }));
            }
            Err(source) => {
                self.ended = true;
                return Some(Err(ReadError::Io { at, source }));
            }
        };
        self.pos = message.end;
        self.index += 1;
        Some(match self.store.decode(self.window.slice(message), out) {
            Ok(_) => Ok(at),
            Err(error) => Err(ReadError::Record { at, error }),
        })
    }

    /// Buffers the message whose length prefix is at `start`.
    fn frame(&mut self, start: u64) -> io::Result<Frame> {
        let body = start + PREFIX_LEN;
        self.window.fill_to(body)?;
        let rest = self.window.tail(start);
        let Some(len) = rest.first_chunk::<{ PREFIX_LEN as usize }>() else {
            return Ok(if rest.is_empty() {
                Frame::End
            } else {
                Frame::Broken(format!(
                    "{} stray bytes where a 4-byte length prefix was expected",
                    rest.len()
                ))
            });
        };
        let len = u64::from(u32::from_be_bytes(*len));
        if !self.window.ensure(body + len)? {
            return Ok(Frame::Broken(format!(
                "the length prefix says {len} bytes but only {} remain (truncated file or corrupt length)",
                self.window.remaining_from(body)
            )));
        }
        Ok(Frame::Message(body..body + len))
    }
}

/// What is at a message's offset.
enum Frame {
    /// The message's bytes.
    Message(Range<u64>),
    /// The end of the file.
    End,
    /// Broken framing: nothing after it can be read.
    Broken(String),
}

impl<R: BufRead> Iterator for FramedReader<R> {
    type Item = Result<(Position, DecodedEvent), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut out = DecodedEvent::default();
        self.read_next(&mut out).map(|r| r.map(|at| (at, out)))
    }
}
