//! Decoding a file on a second thread, a batch ahead of the sessions.
//!
//! A file run is two jobs in a row per record: read and decode it (inflate the block, walk the
//! Avro datum, pick out the projected fields), then push it through its session's DAG. They
//! take about as long as each other, so with a second core the reader decodes batch `n + 1`
//! while the caller evaluates batch `n`. Batches go back to the reader once read, so their
//! records (and the key strings in them) are reused and steady state allocates nothing.
//! Memory stays bounded: at most [`BATCHES`] batches of [`BATCH`] records exist.

use super::{Position, ReadError, RecordReader};
use crate::decode::projection::DecodedEvent;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Records per batch: enough that a hand-over costs little per record, few enough that the
/// first batch arrives at once.
const BATCH: usize = 1024;

/// Batches in flight: one being decoded, one waiting, one being evaluated.
const BATCHES: usize = 3;

/// What an item's outcome holds before the reader writes it.
const UNSET: Position = Position::Message {
    index: 0,
    offset: 0,
};

/// One record's outcome, and the record when it decoded.
type Item = (Result<Position, ReadError>, DecodedEvent);

/// A [`RecordReader`] running on its own thread; read it as the reader itself, with
/// [`ReadAhead::read_next`].
pub struct ReadAhead {
    full: Receiver<Vec<Item>>,
    empty: SyncSender<Vec<Item>>,
    /// The batch being read, and how far.
    batch: Vec<Item>,
    at: usize,
    thread: Option<JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts decoding `reader` on a new thread.
    ///
    /// # Errors
    /// When the thread cannot be started (the caller can read on its own thread instead).
    pub fn start(reader: RecordReader) -> std::io::Result<Self> {
        Self::with_batch(reader, BATCH)
    }

    fn with_batch(reader: RecordReader, batch: usize) -> std::io::Result<Self> {
        let (full_tx, full) = sync_channel::<Vec<Item>>(BATCHES);
        let (empty, empty_rx) = sync_channel::<Vec<Item>>(BATCHES);
        for _ in 0..BATCHES - 1 {
            // Never full: the channel holds BATCHES.
            let _ = empty.send(Vec::with_capacity(batch));
        }
        let thread = std::thread::Builder::new()
            .name("spanflow-decode".into())
            .spawn(move || decode_batches(reader, batch, &full_tx, &empty_rx))?;
        Ok(Self {
            full,
            empty,
            batch: Vec::new(),
            at: 0,
            thread: Some(thread),
        })
    }

    /// Decodes the next record into `out` (the record it held goes back to the decoder to be
    /// reused); `None` at the end of the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        if self.at == self.batch.len() {
            let done = std::mem::take(&mut self.batch);
            self.at = 0;
            // The reader has stopped when this fails: the batch is not needed any more.
            let _ = self.empty.try_send(done);
            // A closed channel is the end of the file (the reader drops its sender there).
            self.batch = self.full.recv().ok()?;
            self.at = 0;
            if self.batch.is_empty() {
                return None;
            }
        }
        let (result, event) = &mut self.batch[self.at];
        self.at += 1;
        std::mem::swap(out, event);
        Some(std::mem::replace(result, Ok(UNSET)))
    }
}

/// A file's records, decoded on a second thread when the machine has a core to spare for it,
/// else on the caller's.
pub enum FileRecords {
    /// Decoded on the caller's thread.
    Here(RecordReader),
    /// Decoded ahead on a second thread.
    Ahead(ReadAhead),
}

impl FileRecords {
    /// Reads `reader` ahead on a second thread if it reads a regular file and there is more
    /// than one core. A pipe or a FIFO is read here, record by record: its writer may pause,
    /// and the records it already wrote must not wait for a batch to fill (a run stopped by a
    /// signal then still evaluates every record that arrived before it).
    ///
    /// # Errors
    /// When the system cannot start a thread.
    pub fn new(reader: RecordReader, regular_file: bool) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 || !regular_file {
            return Ok(FileRecords::Here(reader));
        }
        ReadAhead::start(reader).map(FileRecords::Ahead)
    }

    /// Decodes the next record into `out`; `None` at the end of the file.
    pub fn read_next(&mut self, out: &mut DecodedEvent) -> Option<Result<Position, ReadError>> {
        match self {
            FileRecords::Here(r) => r.read_next(out),
            FileRecords::Ahead(r) => r.read_next(out),
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Closing both channels stops the reader at its next batch.
        let (closed, _) = sync_channel(0);
        self.empty = closed;
        let (_, closed) = sync_channel(0);
        self.full = closed;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The reader thread: fills empty batches until the end of the file, or until the consumer is
/// gone.
fn decode_batches(
    mut reader: RecordReader,
    size: usize,
    full: &SyncSender<Vec<Item>>,
    empty: &Receiver<Vec<Item>>,
) {
    let mut spare: Vec<Item> = Vec::with_capacity(size);
    loop {
        let mut batch = std::mem::take(&mut spare);
        // Reuse the records of a returned batch (their buffers), in place.
        let mut filled = 0;
        let mut ended = false;
        while filled < size {
            if filled == batch.len() {
                batch.push((Ok(UNSET), DecodedEvent::default()));
            }
            let (result, event) = &mut batch[filled];
            match reader.read_next(event) {
                Some(r) => {
                    *result = r;
                    filled += 1;
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        batch.truncate(filled);
        if filled > 0 && full.send(batch).is_err() {
            return;
        }
        if ended {
            return;
        }
        spare = match empty.recv() {
            Ok(b) => b,
            Err(_) => return,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Projection;

    /// Every record, in order, the same as reading on one thread; and stopping early stops
    /// the reader thread.
    #[test]
    fn reads_what_the_reader_reads_in_order() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/generated/heartbeats-small.avro");
        let projection = || {
            let path = |p: &str| p.parse().expect("field path");
            let mut p = Projection::new(path("sessionId"), path("timestamp"));
            p.push_field(path("playerState"), spanflow_engine::ValueType::Str);
            p.push_field(path("cdn"), spanflow_engine::ValueType::Str);
            p
        };
        let mut direct = RecordReader::open(&path, projection(), None).expect("open");
        let mut expected = Vec::new();
        let mut e = DecodedEvent::default();
        while let Some(r) = direct.read_next(&mut e) {
            expected.push((r.is_ok(), e.session_key.clone(), e.record.clone()));
        }
        // Small batches, so the fixture spans many and batches are reused.
        let batch = 7;
        assert!(expected.len() > 10 * batch * BATCHES, "{}", expected.len());

        let reader = RecordReader::open(&path, projection(), None).expect("open");
        let mut ahead = ReadAhead::with_batch(reader, batch).expect("thread");
        let mut got = Vec::new();
        while let Some(r) = ahead.read_next(&mut e) {
            got.push((r.is_ok(), e.session_key.clone(), e.record.clone()));
        }
        assert_eq!(got, expected);
        assert!(ahead.read_next(&mut e).is_none(), "the end stays the end");

        let reader = RecordReader::open(&path, projection(), None).expect("open");
        let mut ahead = ReadAhead::with_batch(reader, batch).expect("thread");
        assert!(ahead.read_next(&mut e).is_some());
        drop(ahead); // joins the reader thread: the test would hang if it did not stop
    }
}
