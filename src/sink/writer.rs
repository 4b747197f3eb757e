//! Writing rows from a synchronous loop (a file run) through the async sinks: at most
//! `max_in_flight` writes at once, the loop blocking while all are taken (backpressure instead
//! of buffering), retries with backoff for errors that may heal.

use super::{Sink, SinkError, SinkRow};
use crate::metrics::SinkMetrics;
use spanflow_operators::Program;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

/// The wait before a write's first retry; it doubles with each failed attempt up to
/// [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
/// The longest wait between two attempts of a write.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// The wait before retry number `attempt` (from 1) of a write: exponential backoff from
/// [`FIRST_RETRY_DELAY`] capped at [`MAX_RETRY_DELAY`], with "equal jitter" (between half of
/// it and all of it, chosen by hashing `seed` and `attempt`).
///
/// The writes that fail together (all those in flight when a cluster goes away) then spread
/// their retries instead of retrying in lockstep: the cluster is not hit by all of them at
/// once when it returns, and the first write after its return does not wait for a whole
/// backoff step of all of them (measured: 5.3 s in one run out of three without jitter).
pub(crate) fn retry_delay(attempt: u32, seed: u64) -> Duration {
    use std::hash::{Hash, Hasher};
    let doubled = FIRST_RETRY_DELAY.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let full = doubled.min(MAX_RETRY_DELAY);
    // SipHash with fixed keys: deterministic for a row and an attempt, spread over rows.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (seed, attempt).hash(&mut hasher);
    let fraction = (hasher.finish() % 1024) as u32;
    full / 2 + full / 2 * fraction / 1024
}

/// A seed for [`retry_delay`] that differs between rows.
fn row_seed(row: &SinkRow) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&*row.session, row.row.output, row.row.time).hash(&mut hasher);
    hasher.finish()
}

/// Writes a row, retrying failures that may heal with jittered exponential backoff
/// ([`retry_delay`]: 50 ms doubling to 5 s) until `stop`; one warning on the first retry and
/// at each power of two, never one per attempt. `metrics` gets the write's latency (retries
/// included), its retries and its outcome; a retrying write makes the run not ready.
pub async fn write_with_retry(
    sink: &Sink,
    row: &SinkRow,
    stop: &AtomicBool,
    metrics: &SinkMetrics,
) -> Result<(), SinkError> {
    let started = Instant::now();
    let mut attempts = 0u32;
    let mut retrying: Option<RetryingWrite<'_>> = None;
    loop {
        match sink.write(row).await {
            Ok(()) => {
                if attempts > 0 {
                    tracing::debug!(sink = %sink.name(), attempts, "Write succeeded after retrying.");
                }
                metrics
                    .write_seconds
                    .observe(started.elapsed().as_secs_f64());
                metrics.rows_written.inc();
                if let Some(produced) = &metrics.produced {
                    produced.inc();
                }
                return Ok(());
            }
            Err(e) if e.retryable && !stop.load(Ordering::Relaxed) => {
                attempts += 1;
                metrics.retries.inc();
                metrics.retryable_errors.inc();
                retrying.get_or_insert_with(|| RetryingWrite::start(metrics, sink, &e));
                if attempts.is_power_of_two() {
                    tracing::debug!(error = %e, attempts, "Write failed; retrying with backoff.");
                }
                // Hashed only once a write fails: most rows never retry.
                tokio::time::sleep(retry_delay(attempts, row_seed(row))).await;
            }
            Err(e) => {
                metrics.failures.inc();
                return Err(e);
            }
        }
    }
}

/// Counts a write as retrying for readiness while it lives (also when its task is dropped).
struct RetryingWrite<'m>(&'m SinkMetrics);

impl<'m> RetryingWrite<'m> {
    /// Logs the change of state when this is the first write retrying (one line for an outage,
    /// not one per write).
    fn start(metrics: &'m SinkMetrics, sink: &Sink, error: &SinkError) -> Self {
        if metrics.health.add_retrying_writes(1) == 0 {
            tracing::warn!(sink = %sink.name(), error = %error, "Sink writes are failing; retrying with backoff (not ready).");
        }
        RetryingWrite(metrics)
    }
}

impl Drop for RetryingWrite<'_> {
    fn drop(&mut self) {
        if self.0.health.add_retrying_writes(-1) == 1 {
            tracing::info!("No sink write is retrying any more.");
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
    /// By output index (file runs serve no endpoint; the handles keep the code path one).
    metrics: Vec<SinkMetrics>,
}

impl<'r> RowWriter<'r> {
    /// A writer running its writes on `runtime`, one sink per output index.
    pub fn new(
        runtime: &'r Runtime,
        program: &Program,
        sinks: Vec<Arc<Sink>>,
        max_in_flight: usize,
    ) -> Self {
        let unexported = crate::metrics::Metrics::new();
        let max_in_flight = max_in_flight.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            runtime,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight: max_in_flight as u32,
            failure: Arc::default(),
            stop: Arc::default(),
            written: Arc::default(),
            metrics: (0..sinks.len())
                .map(|i| unexported.sink(program, &sinks, i))
                .collect(),
            sinks,
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
        let metrics = self.metrics[row.row.output].clone();
        self.runtime.spawn(async move {
            match write_with_retry(&sink, &row, &stop, &metrics).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use spanflow_operators::evaluate_at::Row;

    #[test]
    fn retry_delays_double_up_to_the_cap_with_equal_jitter() {
        for seed in 0..200u64 {
            for attempt in 1..40u32 {
                let full = (FIRST_RETRY_DELAY * 2u32.pow(attempt.min(20) - 1)).min(MAX_RETRY_DELAY);
                let d = retry_delay(attempt, seed);
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempt}: {d:?} for {full:?}"
                );
            }
        }
        assert_eq!(retry_delay(3, 7), retry_delay(3, 7), "deterministic");
    }

    #[test]
    fn writes_failing_together_do_not_retry_in_lockstep() {
        // 64 writes that failed at the same instant, after the same number of attempts: their
        // next retries are spread over the second half of the backoff step.
        let mut delays: Vec<Duration> = (0..64)
            .map(|i| {
                let row = SinkRow {
                    session: format!("session-{i}").as_str().into(),
                    row: Row {
                        output: 0,
                        time: 1_700_000_000_000,
                        values: Default::default(),
                    },
                };
                retry_delay(12, row_seed(&row))
            })
            .collect();
        delays.sort();
        delays.dedup();
        assert!(delays.len() > 50, "{delays:?}");
        let earliest = delays[0];
        let latest = delays[delays.len() - 1];
        assert!(earliest < Duration::from_millis(2800), "{earliest:?}");
        assert!(latest > Duration::from_millis(4700), "{latest:?}");
    }
}
