//! The bytes read from an input file so far, for the progress bar of file runs.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A count of bytes read, shared between the reader (which may run on its own thread) and
/// whoever shows progress.
#[derive(Clone, Debug, Default)]
pub struct BytesRead(Arc<AtomicU64>);

impl BytesRead {
    /// The bytes read so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A [`Read`] that adds what it reads to a [`BytesRead`]. It sits under the file's
/// `BufReader`, so it is called once per buffer refill (64 KiB) or large read, not per record:
/// one relaxed atomic add per system call.
#[derive(Debug)]
pub struct CountingRead<R> {
    inner: R,
    count: BytesRead,
}

impl<R> CountingRead<R> {
    /// Counts the bytes read from `inner` into `count`.
    pub fn new(inner: R, count: BytesRead) -> Self {
        Self { inner, count }
    }
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn counts_what_is_read_through_a_buffer() {
        let bytes: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        let count = BytesRead::default();
        let mut reader =
            BufReader::with_capacity(1024, CountingRead::new(&bytes[..], count.clone()));
        assert_eq!(count.get(), 0);
        let first = reader.fill_buf().unwrap().len();
        assert_eq!(count.get(), first as u64, "one refill");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(count.get(), 10_000);
    }
}
