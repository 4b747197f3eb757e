//! Deterministic synthetic input: video player sessions and device telemetry, and writers for
//! the fixture files (Avro object container files and framed Confluent messages).
//!
//! The same [`GenConfig`] always yields the same events and the same file bytes: randomness comes
//! from `ChaCha8Rng` seeded by the config (one stream per session), and OCF sync markers are
//! derived from the seed.

mod telemetry;
mod video;
mod write;

pub use telemetry::{device_telemetry, DeviceTelemetry};
pub use video::{video_sessions, Device, Heartbeat, UserAction};
pub use write::{
    encode_datums, fixture_bytes, write_default_fixtures, write_fixture, write_ocf, FixtureKind,
    GenerateError, OcfCodec,
};

/// The heartbeat writer schema (`io.spanflow.video.Heartbeat`).
pub const HEARTBEAT_SCHEMA: &str = include_str!("../fixtures/avro/heartbeat.avsc");

/// The device telemetry writer schema (`io.spanflow.iot.DeviceTelemetry`).
pub const TELEMETRY_SCHEMA: &str = include_str!("../fixtures/avro/device_telemetry.avsc");

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// Seed of all randomness.
    pub seed: u64,
    /// Number of sessions (or devices).
    pub sessions: usize,
    /// Events per session (or readings per device).
    pub events_per_session: usize,
    /// Merge all sessions into one stream in global time order, like a Kafka topic; otherwise
    /// sessions follow each other.
    pub interleave: bool,
    /// Epoch milliseconds around which sessions start (they start within 5 minutes after it).
    pub start_time: i64,
    /// Video sessions: how many consecutive events of a session share one timestamp (a step of
    /// the DAG); their `seq` keeps increasing. Each group of `events_per_step` events takes the
    /// time of its first event. 1 (the default; 0 counts as 1) keeps every event at its own
    /// time, as the checked-in fixtures were generated. Device telemetry ignores it.
    pub events_per_step: usize,
}

impl Default for GenConfig {
    /// 20 sessions of 60 events, one event per step, interleaved, starting
    /// 2026-01-01T00:00:00Z, seed 42.
    fn default() -> Self {
        GenConfig {
            seed: 42,
            sessions: 20,
            events_per_session: 60,
            interleave: true,
            start_time: 1_767_225_600_000,
            events_per_step: 1,
        }
    }
}

impl GenConfig {
    /// The config of the checked-in telemetry fixture (`fixtures/generated/telemetry-small.avro`):
    /// the default with 10 devices of 50 readings (25 minutes each).
    pub fn telemetry_fixture() -> Self {
        GenConfig {
            sessions: 10,
            events_per_session: 50,
            ..GenConfig::default()
        }
    }
}

/// Orders per-session event lists into one stream: by time across sessions when `interleave`
/// (ties by session index, so the order is total), else session after session.
fn merge_sessions<T>(sessions: Vec<Vec<T>>, interleave: bool, time: impl Fn(&T) -> i64) -> Vec<T> {
    let mut tagged: Vec<(usize, T)> = sessions
        .into_iter()
        .enumerate()
        .flat_map(|(i, events)| events.into_iter().map(move |e| (i, e)))
        .collect();
    if interleave {
        // Stable: events of one session keep their (time-ordered) relative order.
        tagged.sort_by_key(|(i, e)| (time(e), *i));
    }
    tagged.into_iter().map(|(_, e)| e).collect()
}
