//! Liveness and readiness of a streaming run, for `/health` and `/ready`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long the consumer loop may go without a turn before `/health` reports it stuck. A turn
/// takes at most a poll timeout (100 ms) plus one message's work, so minutes mean a hang.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

/// What the probes look at; updated by the consumer loop and the writers.
#[derive(Debug, Default)]
pub struct Health {
    /// The consumer loop is running (set when it starts, cleared when it returns).
    running: AtomicBool,
    /// A stop was requested: draining.
    stopping: AtomicBool,
    /// The schema registry is unreachable and the loop waits for it.
    registry_down: AtomicBool,
    /// Row writes currently retrying an error that may heal.
    retrying_writes: AtomicI64,
    /// Why the Kafka consumer cannot make progress (only errors, no message), while it cannot.
    consumer_stalled: Mutex<Option<String>>,
    /// Milliseconds since `epoch` at the loop's last turn.
    last_turn_ms: AtomicU64,
    epoch: OnceLock<Instant>,
}

/// The answer of `/ready`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Consuming and writing normally.
    Ready,
    /// Not serving traffic normally, and why.
    NotReady(String),
}

impl Health {
    fn now_ms(&self) -> u64 {
        let epoch = self.epoch.get_or_init(Instant::now);
        epoch.elapsed().as_millis().min(u64::MAX as u128) as u64
    }

    /// The consumer loop started (`true`) or returned (`false`).
    pub fn set_running(&self, running: bool) {
        self.turn();
        self.running.store(running, Ordering::Relaxed);
    }

    /// A stop was requested.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// The registry became unreachable (`true`) or answered again (`false`).
    pub fn set_registry_down(&self, down: bool) {
        self.registry_down.store(down, Ordering::Relaxed);
    }

    /// The consumer stopped making progress (`Some(why)`) or makes progress again (`None`).
    pub fn set_consumer_stalled(&self, why: Option<String>) {
        *self
            .consumer_stalled
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = why;
    }

    /// A write started retrying (`+1`) or stopped retrying (`-1`); returns the number of
    /// retrying writes before the change, so callers can log the transitions.
    pub fn add_retrying_writes(&self, delta: i64) -> i64 {
        self.retrying_writes.fetch_add(delta, Ordering::Relaxed)
    }

    /// The consumer loop took a turn.
    pub fn turn(&self) {
        self.last_turn_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// `Ok` while the loop is turning (or not started yet: startup waits for unreachable
    /// clusters on purpose), else how long it has been stuck.
    pub fn live(&self) -> Result<(), Duration> {
        if !self.running.load(Ordering::Relaxed) {
            return Ok(());
        }
        let idle = Duration::from_millis(self.now_ms() - self.last_turn_ms.load(Ordering::Relaxed));
        if idle > STUCK_AFTER {
            Err(idle)
        } else {
            Ok(())
        }
    }

    /// Whether the run consumes and writes normally.
    pub fn readiness(&self) -> Readiness {
        let not_ready = |why: &str| Readiness::NotReady(why.to_owned());
        if self.stopping.load(Ordering::Relaxed) {
            not_ready("stopping: draining writes and committing")
        } else if !self.running.load(Ordering::Relaxed) {
            not_ready("starting: connecting to the sinks and the consumer group")
        } else if self.registry_down.load(Ordering::Relaxed) {
            not_ready("the schema registry is unreachable; waiting for it")
        } else if let Some(why) = self
            .consumer_stalled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            Readiness::NotReady(why)
        } else if self.retrying_writes.load(Ordering::Relaxed) > 0 {
            not_ready("sink writes are failing and being retried")
        } else {
            Readiness::Ready
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_run() {
        let h = Health::default();
        assert!(matches!(h.readiness(), Readiness::NotReady(r) if r.starts_with("starting")));
        h.set_running(true);
        assert_eq!(h.readiness(), Readiness::Ready);
        h.add_retrying_writes(1);
        assert!(matches!(h.readiness(), Readiness::NotReady(r) if r.contains("retried")));
        h.add_retrying_writes(-1);
        h.set_registry_down(true);
        assert!(matches!(h.readiness(), Readiness::NotReady(r) if r.contains("registry")));
        h.set_registry_down(false);
        assert_eq!(h.readiness(), Readiness::Ready);
        h.set_consumer_stalled(Some("the consumer cannot make progress".into()));
        assert!(matches!(h.readiness(), Readiness::NotReady(r) if r.contains("progress")));
        h.set_consumer_stalled(None);
        assert_eq!(h.readiness(), Readiness::Ready);
        h.set_stopping();
        assert!(matches!(h.readiness(), Readiness::NotReady(r) if r.starts_with("stopping")));
        assert_eq!(h.live(), Ok(()));
    }
}
