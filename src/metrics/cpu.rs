//! `spanflow_cpu_seconds_total`: the process's user and system CPU time in seconds, with the
//! kernel's tick resolution (10 ms).
//!
//! The prometheus crate's process collector exports `process_cpu_seconds_total` as whole
//! seconds (tikv/rust-prometheus#451): a process using 10% of a core shows 0% for ten seconds,
//! then 100% for one. The dashboard's CPU panel needs the fraction, so this reads the same
//! `/proc/self/stat` fields that collector reads, without truncating them.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Opts};

/// Name of the exported counter.
pub const CPU_SECONDS: &str = "spanflow_cpu_seconds_total";

/// Reads the process's CPU time at every collection.
#[derive(Clone, Debug)]
pub struct CpuCollector {
    counter: Counter,
    ticks_per_second: f64,
}

impl CpuCollector {
    /// A collector for this process.
    pub fn for_self() -> Self {
        let counter = Counter::with_opts(Opts::new(
            CPU_SECONDS,
            "User and system CPU time of the process, in seconds (10 ms resolution).",
        ))
        // A constant, valid name: cannot fail.
        .expect("valid metric name");
        Self {
            counter,
            ticks_per_second: procfs::ticks_per_second() as f64,
        }
    }

    /// CPU seconds used so far; `None` when `/proc` cannot be read.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
        Some((stat.utime + stat.stime) as f64 / self.ticks_per_second)
    }
}

impl Collector for CpuCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.counter.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if let Some(now) = self.cpu_seconds() {
            // Collections may run concurrently: only ever move forward.
            let delta = now - self.counter.get();
            if delta > 0.0 {
                self.counter.inc_by(delta);
            }
        }
        self.counter.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_fractions_of_a_second_between_two_readings_of_proc() {
        let cpu = CpuCollector::for_self();
        // Use some CPU, so the reading is not a whole number of seconds by chance alone.
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < std::time::Duration::from_millis(120) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let before = cpu.cpu_seconds().unwrap();
        let families = cpu.collect();
        let after = cpu.cpu_seconds().unwrap();
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].name(), CPU_SECONDS);
        let value = families[0].get_metric()[0].get_counter().get_value();
        assert!(
            before <= value && value <= after,
            "{value} outside [{before}, {after}]"
        );
        // Whole seconds (what the process collector exports) would lose up to 1 s here.
        assert!(value > 0.1, "{value}");
    }
}
