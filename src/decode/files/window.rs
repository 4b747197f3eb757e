//! A window over a byte stream, addressed by offsets in the stream: the readers buffer the
//! bytes of the record or block in hand (and, while resynchronising, those back to the corrupt
//! block) and drop them once done, so memory follows the largest block, not the file.

use std::fmt;
use std::io::{self, BufRead, ErrorKind, Read};
use std::ops::Range;

pub(super) struct Window<R> {
    source: R,
    /// The buffered bytes, from offset `base`.
    buf: Vec<u8>,
    base: u64,
    /// The stream's length: given up front for a regular file, or found at its end.
    len: Option<u64>,
}

impl<R> fmt::Debug for Window<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("buffered", &(self.base..self.end()))
            .field("len", &self.len)
            .finish()
    }
}

impl<R> Window<R> {
    /// A window at the start of `source`; `len`, when known, is its length (bytes past it are
    /// not read, as if the file were read when opened).
    pub(super) fn new(source: R, len: Option<u64>) -> Self {
        Window {
            source,
            buf: Vec::new(),
            base: 0,
            len,
        }
    }

    /// The offset just past the buffered bytes.
    pub(super) fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// The bytes from offset `from` past the end of the stream: only known once the stream's
    /// end is (after [`Window::ensure`] said no, or for a length given up front).
    pub(super) fn remaining_from(&self, from: u64) -> u64 {
        self.len.unwrap_or(self.end()).saturating_sub(from)
    }

    /// The buffered bytes in `range` (which must be buffered).
    pub(super) fn slice(&self, range: Range<u64>) -> &[u8] {
        &self.buf[self.index(range.start)..self.index(range.end)]
    }

    /// The buffered bytes from offset `from` on (none if `from` is past them).
    pub(super) fn tail(&self, from: u64) -> &[u8] {
        self.buf
            .get(self.index(from.min(self.end()))..)
            .unwrap_or_default()
    }

    /// Forgets the bytes before offset `offset`.
    pub(super) fn discard_before(&mut self, offset: u64) {
        let n = self.index(offset.clamp(self.base, self.end()));
        self.buf.drain(..n);
        self.base += n as u64;
    }

    /// The bytes allocated for the window (what it costs in memory).
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn index(&self, offset: u64) -> usize {
        usize::try_from(offset - self.base).expect("buffered bytes are addressable")
    }
}

impl<R: BufRead> Window<R> {
    /// Buffers the bytes up to offset `to`, or to the end of the stream if it ends first.
    pub(super) fn fill_to(&mut self, to: u64) -> io::Result<()> {
        let to = self.len.map_or(to, |len| to.min(len));
        let end = self.end();
        if to <= end {
            return Ok(());
        }
        let want = to - end;
        // `Take` bounds the read, and `read_to_end` grows the buffer as bytes arrive: a length
        // claimed by the data never allocates more than the stream holds.
        let got = (&mut self.source).take(want).read_to_end(&mut self.buf)? as u64;
        if got < want {
            self.len = Some(self.end());
        }
        Ok(())
    }

    /// Whether the stream holds the bytes up to offset `to`, buffering them if so. A length
    /// known up front answers without reading: a hostile length does not pull in the rest of
    /// the file.
    pub(super) fn ensure(&mut self, to: u64) -> io::Result<bool> {
        if self.len.is_some_and(|len| to > len) {
            return Ok(false);
        }
        self.fill_to(to)?;
        Ok(self.end() >= to)
    }

    /// Buffers what the source holds ready (a `BufReader`'s buffer); false at the end of the
    /// stream.
    pub(super) fn fill_more(&mut self) -> io::Result<bool> {
        let end = self.end();
        if self.len.is_some_and(|len| end >= len) {
            return Ok(false);
        }
        let chunk = loop {
            match self.source.fill_buf() {
                Ok(chunk) => break chunk,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if chunk.is_empty() {
            self.len = Some(end);
            return Ok(false);
        }
        let n = self
            .len
            .map_or(chunk.len(), |len| chunk.len().min((len - end) as usize));
        self.buf.extend_from_slice(&chunk[..n]);
        self.source.consume(n);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_to_an_offset_and_finds_the_end() {
        let bytes: Vec<u8> = (0..100).collect();
        let mut w = Window::new(std::io::BufReader::with_capacity(7, &bytes[..]), None);
        w.fill_to(10).unwrap();
        assert_eq!(w.tail(0), &bytes[..10]);
        assert!(w.ensure(50).unwrap());
        assert_eq!(w.slice(40..50), &bytes[40..50]);
        w.discard_before(45);
        assert_eq!(w.tail(45), &bytes[45..50]);
        assert!(!w.ensure(1 << 40).unwrap(), "no huge allocation");
        assert_eq!(w.end(), 100);
        assert_eq!(w.remaining_from(90), 10);
        assert!(!w.fill_more().unwrap());
    }

    #[test]
    fn a_known_length_answers_without_reading() {
        let bytes = [1u8; 64];
        let mut w = Window::new(&bytes[..], Some(32));
        assert!(!w.ensure(33).unwrap());
        assert_eq!(w.end(), 0, "nothing was read");
        assert_eq!(w.remaining_from(10), 22);
        w.fill_to(40).unwrap();
        assert_eq!(w.end(), 32, "bytes past the known length are not read");
        assert!(!w.fill_more().unwrap());
    }
}
