//! Simulated device telemetry: a reading every ~30 s per device, with battery temperature and
//! memory random walks (including occasional overheating), firmware upgrades, and *load
//! episodes* where the device runs hot (≥ 60 °C) with memory nearly full (≥ 4 GB) — the
//! "risky" condition of `dag-specs/iot/risky_device.yaml`.
//!
//! Every [`SUSTAINED_RISK_EVERY`]th device (`dev-00000`, `dev-00004`, …) has one episode long
//! enough to pass that spec's 5 minutes; every device also has brief episodes that never last
//! 5 minutes, so the spec's duration threshold decides the result. Outside episodes memory stays
//! below 4 GB, so a reading is risky exactly when it belongs to an episode.

use super::{merge_sessions, GenConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::ops::{Range, RangeInclusive};

/// One `io.spanflow.iot.DeviceTelemetry` reading.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename = "DeviceTelemetry", rename_all = "camelCase")]
pub struct DeviceTelemetry {
    /// Device id.
    pub device_id: String,
    /// Reading time, epoch milliseconds.
    pub timestamp: i64,
    /// Battery temperature in °C.
    pub battery_temp_c: f64,
    /// Memory in use, GB.
    pub memory_gb: f64,
    /// Firmware version.
    pub firmware: String,
}

const FIRMWARES: [&str; 3] = ["1.4.2", "1.5.0", "1.5.1"];

/// Devices whose index is a multiple of this have one sustained risky episode.
pub const SUSTAINED_RISK_EVERY: usize = 4;

/// Readings are 28–32 s apart. An episode of `n` readings is risky from its first reading to
/// the first reading after it: `n` gaps. 12 readings last at least 336 s, past the spec's 300 s.
const SUSTAINED_READINGS: RangeInclusive<usize> = 12..=20;
/// At most 8 readings: at most 256 s, short of the spec's 300 s.
const BRIEF_READINGS: RangeInclusive<usize> = 2..=8;
/// Chance that a brief episode starts at a reading outside episodes.
const BRIEF_CHANCE: f64 = 0.04;

/// `cfg.sessions` devices with `cfg.events_per_session` readings each.
pub fn device_telemetry(cfg: &GenConfig) -> Vec<DeviceTelemetry> {
    let devices = (0..cfg.sessions).map(|i| simulate(cfg, i)).collect();
    merge_sessions(devices, cfg.interleave, |r: &DeviceTelemetry| r.timestamp)
}

/// The reading indices of `n` readings that fall in load episodes, in order and separated by at
/// least two ordinary readings (so episodes never merge into a longer one).
fn episodes(rng: &mut ChaCha8Rng, n: usize, sustained: bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    if sustained {
        i = rng.random_range(2..8);
        let len = rng.random_range(SUSTAINED_READINGS);
        out.push(i..(i + len).min(n));
        i += len + 2;
    }
    while i < n {
        if rng.random_bool(BRIEF_CHANCE) {
            let len = rng.random_range(BRIEF_READINGS);
            out.push(i..(i + len).min(n));
            i += len + 2;
        } else {
            i += 1;
        }
    }
    out
}

fn simulate(cfg: &GenConfig, index: usize) -> Vec<DeviceTelemetry> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7e1e_7e1e);
    rng.set_stream(index as u64);
    let device_id = format!("dev-{index:05}");
    let mut firmware = rng.random_range(0..2);
    let upgrade_at = rng
        .random_bool(0.4)
        .then(|| rng.random_range(0..cfg.events_per_session.max(1)));
    let episodes = episodes(
        &mut rng,
        cfg.events_per_session,
        index.is_multiple_of(SUSTAINED_RISK_EVERY),
    );
    let in_episode = |i: usize| episodes.iter().any(|e| e.contains(&i));
    let mut t = cfg.start_time + rng.random_range(0..30_000);
    let mut temp: f64 = rng.random_range(24.0..34.0);
    let mut memory: f64 = rng.random_range(0.8..2.0);
    let mut overheating = 0u32;
    let mut readings = Vec::with_capacity(cfg.events_per_session);
    for i in 0..cfg.events_per_session {
        if upgrade_at == Some(i) {
            firmware = (firmware + 1).min(FIRMWARES.len() - 1);
        }
        if overheating == 0 && rng.random_bool(0.03) {
            overheating = rng.random_range(3..10);
        }
        // Overheating alone may pass 60 °C: hot without the memory is not risky.
        let target = if overheating > 0 { 66.0 } else { 30.0 };
        overheating = overheating.saturating_sub(1);
        temp = (temp + (target - temp) * 0.3 + rng.random_range(-1.0..1.0)).clamp(15.0, 70.0);
        memory = (memory + rng.random_range(-0.15..0.2)).clamp(0.3, 3.8);
        // Under load the battery heats at once and memory fills; the load's memory is freed
        // afterwards, the heat decays through the walk above.
        let shown_memory = if in_episode(i) {
            temp = temp.max(rng.random_range(60.5..67.0));
            rng.random_range(4.1..5.6)
        } else {
            memory
        };
        readings.push(DeviceTelemetry {
            device_id: device_id.clone(),
            timestamp: t,
            battery_temp_c: (temp * 10.0).round() / 10.0,
            memory_gb: (shown_memory * 100.0).round() / 100.0,
            firmware: FIRMWARES[firmware].to_owned(),
        });
        t += 30_000 + rng.random_range(-2000..=2000);
    }
    readings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_deterministic_and_periodic() {
        let cfg = GenConfig {
            sessions: 8,
            events_per_session: 100,
            ..GenConfig::default()
        };
        let a = device_telemetry(&cfg);
        assert_eq!(a, device_telemetry(&cfg));
        assert_eq!(a.len(), 800);
        assert!(a.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        let one: Vec<_> = a.iter().filter(|r| r.device_id == a[0].device_id).collect();
        assert!(one
            .windows(2)
            .all(|w| (28_000..=32_000).contains(&(w[1].timestamp - w[0].timestamp))));
        assert!(
            a.iter().any(|r| r.battery_temp_c > 40.0),
            "some devices overheat"
        );
        assert!(a.iter().all(|r| (0.3..=5.6).contains(&r.memory_gb)));
    }

    /// Each run of consecutive risky readings (≥ 60 °C and ≥ 4 GB) of every device, as
    /// (device index, time from its first reading to the first reading after it, in ms).
    fn risky_runs(readings: &[DeviceTelemetry]) -> Vec<(usize, i64)> {
        let mut runs = Vec::new();
        let mut devices: Vec<&str> = readings.iter().map(|r| r.device_id.as_str()).collect();
        devices.sort();
        devices.dedup();
        for (d, id) in devices.iter().enumerate() {
            let own: Vec<_> = readings.iter().filter(|r| r.device_id == *id).collect();
            let mut start = None;
            for r in &own {
                let risky = r.battery_temp_c >= 60.0 && r.memory_gb >= 4.0;
                match (risky, start) {
                    (true, None) => start = Some(r.timestamp),
                    (false, Some(s)) => {
                        runs.push((d, r.timestamp - s));
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start {
                runs.push((d, own.last().unwrap().timestamp - s));
            }
        }
        runs
    }

    #[test]
    fn every_fourth_device_is_risky_for_more_than_5_minutes_and_others_only_briefly() {
        let cfg = GenConfig {
            sessions: 16,
            events_per_session: 50,
            ..GenConfig::default()
        };
        let runs = risky_runs(&device_telemetry(&cfg));
        let long = |d: usize| runs.iter().any(|&(e, ms)| e == d && ms > 300_000);
        for d in 0..cfg.sessions {
            assert_eq!(
                long(d),
                d % SUSTAINED_RISK_EVERY == 0,
                "device {d}: {runs:?}"
            );
        }
        // Brief episodes (under 5 minutes) occur on both kinds of device.
        let brief = |sustained: bool| {
            runs.iter()
                .any(|&(d, ms)| (d % SUSTAINED_RISK_EVERY == 0) == sustained && ms < 300_000)
        };
        assert!(brief(true) && brief(false), "{runs:?}");
        // Hot without memory pressure happens too, so both thresholds matter.
        let hot_only = device_telemetry(&cfg)
            .iter()
            .any(|r| r.battery_temp_c >= 60.0 && r.memory_gb < 4.0);
        assert!(hot_only);
    }
}
