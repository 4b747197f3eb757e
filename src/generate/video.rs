//! Simulated video player sessions: state changes (init → buffer → play, rebuffering, seeks,
//! pauses, CDN and bitrate switches) plus periodic heartbeats. Like real players, an event
//! carries an optional field only when its value changed since the previous event.

use super::{merge_sessions, GenConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;

/// One `io.spanflow.video.Heartbeat` event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename = "Heartbeat", rename_all = "camelCase")]
pub struct Heartbeat {
    /// Playback session id (a UUID).
    pub session_id: String,
    /// Event time, epoch milliseconds.
    pub timestamp: i64,
    /// Per-session event counter from 0.
    pub seq: i64,
    /// `init`, `buffer`, `play`, `pause` or `stop`, when it changed.
    pub player_state: Option<String>,
    /// `CDN1`..`CDN3`, when it changed.
    pub cdn: Option<String>,
    /// Video bitrate, when it changed.
    pub bitrate_kbps: Option<i32>,
    /// `wifi` or `cellular`, when it changed.
    pub network: Option<String>,
    /// A user action happening with this event.
    pub user_action: Option<UserAction>,
    /// The playing device.
    pub device: Device,
    /// Seconds of video buffered ahead, when it changed.
    pub buffer_length_sec: Option<f64>,
    /// Custom dimensions.
    pub tags: BTreeMap<String, String>,
}

/// The `UserAction` enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename = "UserAction", rename_all = "lowercase")]
pub enum UserAction {
    /// Jump to another position.
    Seek,
    /// Click on the player.
    Click,
    /// Skip an ad or a chapter.
    Skip,
}

impl UserAction {
    /// The Avro enum symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            UserAction::Seek => "seek",
            UserAction::Click => "click",
            UserAction::Skip => "skip",
        }
    }
}

/// The `Device` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename = "Device")]
pub struct Device {
    /// Operating system.
    pub os: String,
    /// Device model.
    pub model: String,
}

/// Player sessions for `cfg`, each session's events in time order; see [`GenConfig::interleave`].
pub fn video_sessions(cfg: &GenConfig) -> Vec<Heartbeat> {
    let sessions = (0..cfg.sessions).map(|i| simulate(cfg, i)).collect();
    merge_sessions(sessions, cfg.interleave, |e: &Heartbeat| e.timestamp)
}

const HEARTBEAT_MS: i64 = 10_000;
const CDNS: [&str; 3] = ["CDN1", "CDN2", "CDN3"];
const DEVICES: [(&str, &[&str]); 5] = [
    ("iOS", &["iPhone15,2", "iPhone14,7", "iPad13,1"]),
    ("Android", &["Pixel 8", "SM-S918B", "moto g54"]),
    ("tvOS", &["AppleTV11,1"]),
    ("Roku", &["4802X", "3941X"]),
    ("Web", &["Chrome", "Firefox", "Safari"]),
];
const BITRATES: [i32; 6] = [800, 1500, 2500, 4000, 6000, 8000];

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Init,
    Buffer,
    Play,
    Pause,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Init => "init",
            State::Buffer => "buffer",
            State::Play => "play",
            State::Pause => "pause",
        }
    }
}

/// The changes one event reports.
#[derive(Default)]
struct Change {
    state: Option<State>,
    cdn: Option<usize>,
    bitrate: Option<i32>,
    network: Option<&'static str>,
    action: Option<UserAction>,
    buffer: Option<f64>,
}

struct Player {
    rng: ChaCha8Rng,
    session_id: String,
    device: Device,
    tags: BTreeMap<String, String>,
    state: State,
    cdn: usize,
    bitrate: i32,
    network: &'static str,
    buffer: f64,
    last_reported_buffer: Option<f64>,
    t: i64,
    events: Vec<Heartbeat>,
}

fn simulate(cfg: &GenConfig, index: usize) -> Vec<Heartbeat> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(index as u64);
    let session_id = uuid(&mut rng);
    let (os, models) = DEVICES[rng.random_range(0..DEVICES.len())];
    let device = Device {
        os: os.into(),
        model: models[rng.random_range(0..models.len())].into(),
    };
    let tags = BTreeMap::from([
        ("app".to_owned(), "spanflow-player".to_owned()),
        (
            "version".to_owned(),
            ["3.1.0", "3.2.1"][rng.random_range(0..2)].to_owned(),
        ),
    ]);
    let t = cfg.start_time + rng.random_range(0..300_000);
    let mut p = Player {
        cdn: rng.random_range(0..CDNS.len()),
        bitrate: BITRATES[rng.random_range(1..4)],
        network: if rng.random_bool(0.7) {
            "wifi"
        } else {
            "cellular"
        },
        rng,
        session_id,
        device,
        tags,
        state: State::Init,
        buffer: 0.0,
        last_reported_buffer: None,
        t,
        events: Vec::with_capacity(cfg.events_per_session),
    };
    p.run(cfg.events_per_session);
    share_timestamps(&mut p.events, cfg.events_per_step);
    p.events
}

/// Gives each group of `per_step` consecutive events the time of the group's first event.
fn share_timestamps(events: &mut [Heartbeat], per_step: usize) {
    if per_step <= 1 {
        return;
    }
    for step in events.chunks_mut(per_step) {
        let time = step[0].timestamp;
        for e in step {
            e.timestamp = time;
        }
    }
}

impl Player {
    fn run(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let (cdn, network) = (self.cdn, self.network);
        self.emit(Change {
            state: Some(State::Init),
            cdn: Some(cdn),
            network: Some(network),
            ..Change::default()
        });
        // A transition due at a given time (end of buffering, end of a pause).
        let mut pending: Option<(i64, State)> =
            Some((self.t + self.rng.random_range(150..1500), State::Buffer));
        let mut last_heartbeat = self.t;
        while self.events.len() + 1 < n {
            let next_heartbeat = last_heartbeat + HEARTBEAT_MS + self.rng.random_range(-300..=300);
            if let Some((at, to)) = pending.filter(|(at, _)| *at < next_heartbeat) {
                pending = self.transition(at, to);
            } else if self.state == State::Play && self.rng.random_bool(0.12) {
                let at = self
                    .rng
                    .random_range(self.t + 200..next_heartbeat.max(self.t + 400));
                pending = self.spontaneous(at);
            } else {
                last_heartbeat = next_heartbeat;
                self.heartbeat(next_heartbeat);
            }
        }
        let stop_at = self.t + self.rng.random_range(500..5000);
        self.advance(stop_at);
        self.events
            .push(self.event(Change::default(), Some("stop")));
    }

    /// A scheduled transition; returns the next one it schedules.
    fn transition(&mut self, at: i64, to: State) -> Option<(i64, State)> {
        self.advance(at);
        let mut change = Change {
            state: Some(to),
            ..Change::default()
        };
        let next = match to {
            State::Buffer => {
                // Startup: the first bitrate is known once buffering starts.
                change.bitrate = Some(self.bitrate);
                self.buffer = 0.0;
                Some((at + self.rng.random_range(400..5000), State::Play))
            }
            State::Play => {
                self.buffer = self.rng.random_range(4.0..12.0);
                None
            }
            State::Init | State::Pause => None,
        };
        change.buffer = self.buffer_change();
        self.emit(change);
        next
    }

    /// A user or network event while playing; returns the transition it schedules.
    fn spontaneous(&mut self, at: i64) -> Option<(i64, State)> {
        self.advance(at);
        let roll: f64 = self.rng.random();
        let mut change = Change::default();
        let next = if roll < 0.30 {
            // Rebuffering, sometimes fixed by a CDN switch.
            change.state = Some(State::Buffer);
            self.buffer = 0.0;
            if self.rng.random_bool(0.3) {
                self.cdn = (self.cdn + self.rng.random_range(1..CDNS.len())) % CDNS.len();
                change.cdn = Some(self.cdn);
            }
            Some((at + self.rng.random_range(500..8000), State::Play))
        } else if roll < 0.50 {
            change.action = Some(UserAction::Seek);
            change.state = Some(State::Buffer);
            self.buffer = 0.0;
            Some((at + self.rng.random_range(300..3000), State::Play))
        } else if roll < 0.65 {
            change.state = Some(State::Pause);
            Some((at + self.rng.random_range(2000..45_000), State::Play))
        } else if roll < 0.75 {
            self.cdn = (self.cdn + self.rng.random_range(1..CDNS.len())) % CDNS.len();
            change.cdn = Some(self.cdn);
            None
        } else if roll < 0.85 {
            self.network = if self.network == "wifi" {
                "cellular"
            } else {
                "wifi"
            };
            change.network = Some(self.network);
            None
        } else if roll < 0.95 {
            change.action = Some(UserAction::Click);
            None
        } else {
            change.action = Some(UserAction::Skip);
            None
        };
        change.buffer = self.buffer_change();
        self.emit(change);
        next
    }

    fn heartbeat(&mut self, at: i64) {
        self.advance(at);
        let mut change = Change::default();
        match self.state {
            State::Play => {
                self.buffer = (self.buffer + self.rng.random_range(-3.0..4.0)).clamp(0.5, 30.0);
                if self.rng.random_bool(0.1) {
                    let i = BITRATES
                        .iter()
                        .position(|b| *b == self.bitrate)
                        .unwrap_or(2);
                    let j = if self.rng.random_bool(0.5) {
                        i.saturating_sub(1)
                    } else {
                        (i + 1).min(BITRATES.len() - 1)
                    };
                    if BITRATES[j] != self.bitrate {
                        self.bitrate = BITRATES[j];
                        change.bitrate = Some(self.bitrate);
                    }
                }
            }
            State::Buffer => {
                self.buffer = (self.buffer + self.rng.random_range(0.2..2.0)).min(30.0)
            }
            State::Init | State::Pause => {}
        }
        change.buffer = self.buffer_change();
        self.emit(change);
    }

    /// Moves the clock to `at`, at least 1 ms after the previous event.
    fn advance(&mut self, at: i64) {
        self.t = at.max(self.t + 1);
    }

    fn buffer_change(&mut self) -> Option<f64> {
        let rounded = (self.buffer * 10.0).round() / 10.0;
        if self.last_reported_buffer == Some(rounded) {
            return None;
        }
        self.last_reported_buffer = Some(rounded);
        Some(rounded)
    }

    fn emit(&mut self, change: Change) {
        if let Some(s) = change.state {
            self.state = s;
        }
        let state = change.state.map(State::name);
        let event = self.event(change, state);
        self.events.push(event);
    }

    fn event(&self, change: Change, state: Option<&'static str>) -> Heartbeat {
        Heartbeat {
            session_id: self.session_id.clone(),
            timestamp: self.t,
            seq: self.events.len() as i64,
            player_state: state.map(str::to_owned),
            cdn: change.cdn.map(|i| CDNS[i].to_owned()),
            bitrate_kbps: change.bitrate,
            network: change.network.map(str::to_owned),
            user_action: change.action,
            device: self.device.clone(),
            buffer_length_sec: change.buffer,
            tags: self.tags.clone(),
        }
    }
}

/// A random version-4 UUID in its 36-character text form.
fn uuid(rng: &mut ChaCha8Rng) -> String {
    let hi: u64 = rng.random();
    let lo: u64 = rng.random();
    let hi = (hi & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(interleave: bool) -> GenConfig {
        GenConfig {
            sessions: 12,
            events_per_session: 80,
            interleave,
            ..GenConfig::default()
        }
    }

    #[test]
    fn is_deterministic_per_seed() {
        assert_eq!(video_sessions(&cfg(true)), video_sessions(&cfg(true)));
        let other = GenConfig {
            seed: 7,
            ..cfg(true)
        };
        assert_ne!(video_sessions(&cfg(true)), video_sessions(&other));
    }

    #[test]
    fn sessions_have_the_requested_shape() {
        let events = video_sessions(&cfg(false));
        assert_eq!(events.len(), 12 * 80);
        for session in events.chunks(80) {
            let id = &session[0].session_id;
            assert_eq!(id.len(), 36);
            assert!(session.iter().all(|e| &e.session_id == id));
            assert!(session.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
            assert!(session.iter().enumerate().all(|(i, e)| e.seq == i as i64));
            assert_eq!(session[0].player_state.as_deref(), Some("init"));
            assert!(session[0].cdn.is_some() && session[0].network.is_some());
            assert_eq!(session[79].player_state.as_deref(), Some("stop"));
        }
    }

    #[test]
    fn events_per_step_share_timestamps() {
        let one = video_sessions(&cfg(false));
        let three = video_sessions(&GenConfig {
            events_per_step: 3,
            ..cfg(false)
        });
        assert_eq!(one.len(), three.len());
        for (session_one, session_three) in one.chunks(80).zip(three.chunks(80)) {
            for (i, (a, b)) in session_one.iter().zip(session_three).enumerate() {
                // Same events, same seq; only the time moves to the step's first event.
                assert_eq!(a.seq, b.seq);
                assert_eq!(a.player_state, b.player_state);
                assert_eq!(b.timestamp, session_one[i - i % 3].timestamp);
            }
            assert!(session_three
                .windows(2)
                .all(|w| w[0].timestamp <= w[1].timestamp));
        }
        // Interleaved: still in global time order, each session's seq increasing.
        let merged = video_sessions(&GenConfig {
            events_per_step: 3,
            ..cfg(true)
        });
        assert!(merged.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }

    #[test]
    fn interleaving_orders_globally_and_keeps_session_order() {
        let events = video_sessions(&cfg(true));
        assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        let mut by_session: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for e in &events {
            by_session.entry(&e.session_id).or_default().push(e.seq);
        }
        assert_eq!(by_session.len(), 12);
        assert!(by_session
            .values()
            .all(|seqs| seqs.iter().copied().eq(0..80)));
        // Sessions overlap: the first 12 events are not all from one session.
        assert!(events[..12]
            .iter()
            .any(|e| e.session_id != events[0].session_id));
    }

    #[test]
    fn behaviour_is_rich_enough_for_rebuffering_metrics() {
        let events = video_sessions(&GenConfig {
            sessions: 50,
            events_per_session: 120,
            ..cfg(true)
        });
        let count = |f: &dyn Fn(&Heartbeat) -> bool| events.iter().filter(|e| f(e)).count();
        let buffers = count(&|e| e.player_state.as_deref() == Some("buffer"));
        let plays = count(&|e| e.player_state.as_deref() == Some("play"));
        assert!(
            buffers > 50 * 2,
            "rebuffering happens beyond startup: {buffers}"
        );
        assert!(plays >= buffers - 50, "buffering ends in play");
        assert!(count(&|e| e.player_state.as_deref() == Some("pause")) > 0);
        assert!(count(&|e| e.user_action == Some(UserAction::Seek)) > 0);
        assert!(count(&|e| e.seq > 0 && e.cdn.is_some()) > 0, "CDN switches");
        assert!(
            count(&|e| e.seq > 1 && e.bitrate_kbps.is_some()) > 0,
            "bitrate switches"
        );
        // Heartbeats without any change carry nulls only.
        assert!(count(&|e| e.player_state.is_none() && e.buffer_length_sec.is_none()) > 0);
    }
}
