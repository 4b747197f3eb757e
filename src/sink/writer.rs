//! Writing rows from a synchronous loop (a file run) through the async sinks: at most
//! `max_in_flight` writes at once, the loop blocking while all are taken (backpressure instead
//! of buffering), retries with backoff for errors that may heal.

use super::{Sink, SinkError, SinkRow};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// Writes a row, retrying failures that may heal with exponential backoff (50 ms doubling up to
/// 5 s) until `stop`; one warning on the first retry and at each power of two, never one per
/// attempt.
pub async fn write_with_retry(
    sink: &Sink,
    row: &SinkRow,
    stop: &AtomicBool,
) -> Result<(), SinkError> {
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0u32;
    loop {
        match sink.write(row).await {
            Ok(()) => {
                if attempts > 0 {
                    tracing::info!(sink = %sink.name(), attempts, "Write succeeded after retrying.");
                }
                return Ok(());
            }
            Err(e) if e.retryable && !stop.load(Ordering::Relaxed) => {
                attempts += 1;
                if attempts == 1 || attempts.is_power_of_two() {
                    tracing::warn!(error = %e, attempts, "Write failed; retrying with backoff.");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends rows to their output's sink from a synchronous caller (see the module docs).
pub struct RowWriter<'r> {
    runtime: &'r Runtime,
    /// By output index.
    sinks: Vec<Arc<Sink>>,
    permits: Arc<Semaphore>,
    max_in_flight: u32,
    failure: Arc<Mutex<Option<SinkError>>>,
    stop: Arc<AtomicBool>,
    written: Arc<AtomicU64>,
}

impl<'r> RowWriter<'r> {
    /// A writer running its writes on `runtime`, one sink per output index.
    pub fn new(runtime: &'r Runtime, sinks: Vec<Arc<Sink>>, max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            runtime,
            sinks,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight: max_in_flight as u32,
            failure: Arc::default(),
            stop: Arc::default(),
            written: Arc::default(),
        }
    }

    /// Starts writing `row`, first waiting for a free slot. Fails with the first permanent
    /// error any earlier write met; after one, nothing more is written.
    pub fn write(&self, row: SinkRow) -> Result<(), SinkError> {
        self.check()?;
        let Some(sink) = self.sinks.get(row.row.output).cloned() else {
            return Err(SinkError::not_routed("writer", "any sink", row.row.output));
        };
        let permit = self
            .runtime
            .block_on(self.permits.clone().acquire_owned())
            .map_err(|_| closed())?;
        let (failure, stop, written) = (
            self.failure.clone(),
            self.stop.clone(),
            self.written.clone(),
        );
        self.runtime.spawn(async move {
            match write_with_retry(&sink, &row, &stop).await {
                Ok(()) => {
                    written.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            }
            drop(permit);
        });
        Ok(())
    }

    /// Waits for every write to finish, flushes the sinks, and returns the number of rows
    /// written, or the first permanent error.
    pub fn finish(self) -> Result<u64, SinkError> {
        let all = self
            .runtime
            .block_on(self.permits.acquire_many(self.max_in_flight))
            .map_err(|_| closed())?;
        drop(all);
        self.check()?;
        let mut flushed: Vec<*const Sink> = Vec::new();
        for sink in &self.sinks {
            if !flushed.contains(&Arc::as_ptr(sink)) {
                flushed.push(Arc::as_ptr(sink));
                self.runtime.block_on(sink.flush())?;
            }
        }
        Ok(self.written.load(Ordering::Relaxed))
    }

    fn check(&self) -> Result<(), SinkError> {
        match &*self.failure.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn closed() -> SinkError {
    SinkError {
        sink: "writer".into(),
        message: "the write slots were closed".into(),
        retryable: false,
    }
}
