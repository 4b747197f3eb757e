//! Simulated device telemetry: a reading every ~30 s per device, with battery temperature and
//! memory random walks (including occasional overheating) and firmware upgrades.

use super::{merge_sessions, GenConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

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

/// `cfg.sessions` devices with `cfg.events_per_session` readings each.
pub fn device_telemetry(cfg: &GenConfig) -> Vec<DeviceTelemetry> {
    let devices = (0..cfg.sessions).map(|i| simulate(cfg, i)).collect();
    merge_sessions(devices, cfg.interleave, |r: &DeviceTelemetry| r.timestamp)
}

fn simulate(cfg: &GenConfig, index: usize) -> Vec<DeviceTelemetry> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7e1e_7e1e);
    rng.set_stream(index as u64);
    let device_id = format!("dev-{index:05}");
    let mut firmware = rng.random_range(0..2);
    let upgrade_at = rng
        .random_bool(0.4)
        .then(|| rng.random_range(0..cfg.events_per_session.max(1)));
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
        let target = if overheating > 0 { 46.0 } else { 30.0 };
        overheating = overheating.saturating_sub(1);
        temp = (temp + (target - temp) * 0.3 + rng.random_range(-1.0..1.0)).clamp(15.0, 60.0);
        memory = (memory + rng.random_range(-0.15..0.2)).clamp(0.3, 3.8);
        readings.push(DeviceTelemetry {
            device_id: device_id.clone(),
            timestamp: t,
            battery_temp_c: (temp * 10.0).round() / 10.0,
            memory_gb: (memory * 100.0).round() / 100.0,
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
        assert!(a.iter().all(|r| (0.3..=3.8).contains(&r.memory_gb)));
    }
}
