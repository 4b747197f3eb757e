//! The soak: `spanflow run` on tansu under a steady load, writing both outputs of the CIR
//! stream spec to kassandra, through one forced Scylla outage and one graceful restart. It
//! passes when the tables end up identical to the clean file run of the same events, and RSS
//! stays flat in every steady phase (after a warm-up, outside the outage) and within a ceiling
//! through the outage.
//!
//! [`a_short_soak_loses_nothing_through_an_outage_and_a_restart`] is the one-minute version CI
//! runs. [`ten_minute_soak`] is the full run (`scripts/soak.sh`): 240 000 messages at 400/s, a
//! 30 s outage, a restart; it writes its result table to `target/soak-report.md`, its
//! per-second samples to `target/soak-samples.csv` and, when Prometheus is installed (it
//! scrapes the processes every second), every dashboard panel's queries over the run to
//! `target/soak-dashboard.json`, which `scripts/dashboard_preview.py` draws.
//!
//! The load is steady in event time too: sessions start in waves, one wave per five minutes
//! of event time, so sessions open and end at a constant rate and the number of open sessions
//! (and so the memory a healthy process needs) levels off after the first waves.

use crate::metrics::{get, scrape, total};
use crate::scylla_faults::{create_tables, kassandra_yaml, proc_kb, rows_on, with_scylla_sinks};
use crate::stream::{
    clock_messages, file_rows_of, kafka_spec, log_of, start_with_config, stop_gracefully, Scratch,
};
use crate::support::cql::Kassandra;
use crate::support::kafka::{
    behind_commits, create_topic, free_port, group_consumer, Broker, Tansu,
};
use crate::support::prometheus::{dashboard_panels, Prometheus};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use spanflow::decode::files::write_framed;
use spanflow::decode::write_confluent_header;
use spanflow::generate::{encode_datums, video_sessions, GenConfig, HEARTBEAT_SCHEMA};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Partitions of the soak's topic (as [`clock_messages`] expects).
const PARTITIONS: i32 = 4;
/// Event time between two waves of session starts: the generator starts a wave's sessions
/// within five minutes of its start time.
const WAVE_MS: i64 = 300_000;
/// Event time of the first wave (2026-01-01T00:00:00Z).
const FIRST_WAVE_MS: i64 = 1_767_225_600_000;

/// What a soak does, on the clock of the producer (0 = first message produced).
#[derive(Clone, Debug)]
struct Plan {
    /// Name of the scratch directory, consumer group and report.
    name: &'static str,
    /// Wall time over which the messages are produced.
    produce_for: Duration,
    /// Messages per second.
    rate: u32,
    /// Events per session.
    events_per_session: usize,
    /// Sessions per wave of session starts.
    sessions_per_wave: usize,
    /// When kassandra goes away, and for how long.
    outage_at: Duration,
    outage_for: Duration,
    /// When the first process gets SIGTERM and a second one is started.
    restart_at: Duration,
    /// How long after a process starts, or after the outage ends, RSS is not judged
    /// (allocator and librdkafka buffers growing to their working size, the first sessions
    /// opening, the outage's backlog being caught up).
    warm_up: Duration,
    /// How much RSS may grow within a steady phase (see [`steady_phases`]): the median of its
    /// last tenth of samples against the median of its first tenth, as a fraction plus a
    /// constant (kB).
    rss_growth: (f64, u64),
    /// How far above the first steady phase's starting RSS the process may ever go, outage
    /// included (kB): librdkafka's prefetch queue (16 MiB) and the write window fill while
    /// Scylla is away, and the allocator keeps the pages.
    rss_ceiling: u64,
    /// How long the process may take to write every row once production ends.
    catch_up: Duration,
}

impl Plan {
    fn ten_minutes() -> Plan {
        Plan {
            name: "soak",
            produce_for: Duration::from_secs(600),
            rate: 400,
            events_per_session: 30,
            sessions_per_wave: 400,
            outage_at: Duration::from_secs(200),
            outage_for: Duration::from_secs(30),
            restart_at: Duration::from_secs(400),
            warm_up: Duration::from_secs(60),
            rss_growth: (0.10, 4 * 1024),
            rss_ceiling: 24 * 1024,
            catch_up: Duration::from_secs(180),
        }
    }

    fn short() -> Plan {
        Plan {
            name: "soak-short",
            produce_for: Duration::from_secs(45),
            rate: 200,
            events_per_session: 30,
            sessions_per_wave: 75,
            outage_at: Duration::from_secs(12),
            outage_for: Duration::from_secs(6),
            restart_at: Duration::from_secs(28),
            warm_up: Duration::from_secs(6),
            // A short process's memory is mostly warm-up: judge it loosely; the long soak is
            // the real check.
            rss_growth: (0.25, 8 * 1024),
            rss_ceiling: 32 * 1024,
            catch_up: Duration::from_secs(120),
        }
    }

    fn messages(&self) -> usize {
        (self.produce_for.as_secs_f64() * f64::from(self.rate)) as usize
    }

    fn sessions(&self) -> usize {
        self.messages() / self.events_per_session
    }
}

/// The soak's events.
fn events(plan: &Plan) -> Vec<(String, Vec<u8>)> {
    waves_of_sessions(
        plan.sessions(),
        plan.sessions_per_wave,
        plan.events_per_session,
    )
}

/// `sessions` generated sessions starting in waves of `per_wave`, one wave per five minutes of
/// event time, merged into one stream in event-time order: (session key, Confluent-framed
/// message). Sessions end while others start, so commits move on along the stream.
pub(crate) fn waves_of_sessions(
    sessions: usize,
    per_wave: usize,
    events_per_session: usize,
) -> Vec<(String, Vec<u8>)> {
    let mut beats = Vec::with_capacity(sessions * events_per_session);
    let mut left = sessions;
    let mut wave = 0;
    while left > 0 {
        let in_wave = left.min(per_wave);
        beats.extend(video_sessions(&GenConfig {
            seed: 1000 + wave,
            sessions: in_wave,
            events_per_session,
            interleave: true,
            start_time: FIRST_WAVE_MS + wave as i64 * WAVE_MS,
            events_per_step: 1,
        }));
        left -= in_wave;
        wave += 1;
    }
    // Stable: a session's events keep their order.
    beats.sort_by_key(|b| b.timestamp);
    let distinct: BTreeSet<&str> = beats.iter().map(|b| b.session_id.as_str()).collect();
    assert_eq!(distinct.len(), sessions, "session ids are unique");
    let datums = encode_datums(HEARTBEAT_SCHEMA, &beats).unwrap();
    beats
        .into_iter()
        .zip(datums)
        .map(|(beat, datum)| {
            let mut msg = Vec::with_capacity(datum.len() + 5);
            write_confluent_header(1, &mut msg);
            msg.extend_from_slice(&datum);
            (beat.session_id, msg)
        })
        .collect()
}

/// Produces `messages` evenly over `over`, then the clock messages that end every session;
/// returns when all are acknowledged.
fn produce_steadily(bootstrap: &str, topic: &str, messages: &[(String, Vec<u8>)], over: Duration) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let send = |key: &str, payload: &[u8], partition: Option<i32>| loop {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        match producer.send(record) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(50));
            }
            Err((e, _)) => panic!("producing to {topic}: {e}"),
        }
    };
    let started = Instant::now();
    let n = messages.len() as f64;
    for (i, (key, msg)) in messages.iter().enumerate() {
        let due = over.mul_f64(i as f64 / n);
        let now = started.elapsed();
        if due > now + Duration::from_millis(5) {
            std::thread::sleep(due - now);
        }
        send(key, msg, None);
        producer.poll(Duration::ZERO);
    }
    for (p, key, msg) in clock_messages() {
        send(&key, &msg, Some(p));
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// One reading of the running process, every second.
#[derive(Clone, Debug)]
struct Sample {
    /// Since the first message was produced.
    at: Duration,
    /// Which process (1: before the restart, 2: after it).
    process: usize,
    /// Since that process started.
    process_age: Duration,
    rss_kb: u64,
    /// `/ready`'s status (0: no answer).
    ready: u16,
    /// From `/metrics` (this process's counters).
    consumed: f64,
    open_sessions: f64,
    retries: f64,
    lag: f64,
    in_flight: f64,
    /// Messages past the group's committed offsets (what a restart would read again).
    behind_commits: i64,
    /// Inserts kassandra executed so far (all processes).
    written: u64,
}

/// What happened when, for the report.
#[derive(Default, Debug)]
struct Events {
    /// When production started (Unix seconds): the other times are since then.
    started_unix: f64,
    outage_started: Option<Duration>,
    outage_ended: Option<Duration>,
    /// Retries counted by the first process when the outage ended.
    retries_in_outage: f64,
    /// Seconds `/ready` answered 503 between the outage's start and the first write after it.
    not_ready_secs: usize,
    first_write_after_outage: Option<Duration>,
    ready_after_outage: Option<Duration>,
    sigterm: Option<Duration>,
    drain_took: Option<Duration>,
    first_write_after_restart: Option<Duration>,
    production_done: Option<Duration>,
    all_rows: Option<Duration>,
}

/// A running soak's moving parts.
struct Soak {
    plan: Plan,
    tansu: Tansu,
    server: Kassandra,
    /// Kept for its lifetime: the directory holds the spec, config and output.
    _scratch: Scratch,
    spec: PathBuf,
    program: spanflow_operators::Program,
    config: PathBuf,
    metrics_addr: String,
    output: PathBuf,
    /// The clean file run's rows.
    want: BTreeMap<(String, i64), String>,
    /// What the producer sends: (session key, Confluent-framed message).
    messages: std::sync::Arc<Vec<(String, Vec<u8>)>>,
    /// Reads the group's committed offsets (not a member of it).
    offsets: BaseConsumer,
    /// Scrapes the processes every second, for the dashboard's view of the run (`None`
    /// without the `prometheus` binary).
    prometheus: Option<Prometheus>,
}

impl Soak {
    /// Everything ready to produce; `None` when tansu is not installed (skipped).
    fn prepare(plan: Plan) -> Option<Soak> {
        let tansu = Tansu::start()?;
        create_topic(tansu.bootstrap(), "heartbeats", PARTITIONS).unwrap();
        let server = Kassandra::start();
        let scratch = Scratch::new(plan.name);
        let spec = kafka_spec(&scratch, "heartbeats", plan.name);
        let framed = scratch.path("soak.framed");
        let messages = events(&plan);
        write_framed(
            std::io::BufWriter::new(std::fs::File::create(&framed).unwrap()),
            messages.iter().map(|(_, m)| m),
        )
        .unwrap();
        // The clean run: the same events from the file, JSON lines.
        let want = file_rows_of(&spec, &framed)
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        let program = with_scylla_sinks(&spec);
        create_tables(&server, &program);
        let metrics_addr = format!("127.0.0.1:{}", free_port());
        let config = scratch.path("config.yaml");
        std::fs::write(
            &config,
            format!(
                "kafka:\n  consumer_properties: {{ session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }}\n\
                 delivery: {{ commit_interval_ms: 1000, max_in_flight: 256 }}\n\
                 metrics:\n  listen: {metrics_addr}\n{}",
                kassandra_yaml(&server)
            ),
        )
        .unwrap();
        let output = scratch.path("out.jsonl");
        let offsets = group_consumer(tansu.bootstrap(), plan.name);
        // Both processes serve on the same address: one target, one job, as in production.
        let prometheus = Prometheus::start(&scratch.path("prometheus"), plan.name, &metrics_addr);
        let soak = Soak {
            plan,
            tansu,
            server,
            _scratch: scratch,
            spec,
            program,
            config,
            metrics_addr,
            output,
            want,
            messages: std::sync::Arc::new(messages),
            offsets,
            prometheus,
        };
        Some(soak)
    }

    fn start_process(&self) -> Child {
        start_with_config(
            &self.spec,
            self.tansu.bootstrap(),
            &self.output,
            &self.config,
        )
    }

    /// A diagnosis for a failure: spanflow's and tansu's log tails.
    fn logs(&self) -> String {
        let log = log_of(&self.output);
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "spanflow log, tail:\n{}\ntansu log, tail:\n{}",
            lines[lines.len().saturating_sub(60)..].join("\n"),
            self.tansu.log_tail()
        )
    }

    fn sample(&self, at: Duration, process: usize, age: Duration, child: &Child) -> Sample {
        let (ready, _) = get(&self.metrics_addr, "/ready");
        let scraped = scrape(&self.metrics_addr);
        let metric = |name: &str| scraped.as_ref().map_or(0.0, |s| total(s, name, &[]));
        Sample {
            at,
            process,
            process_age: age,
            rss_kb: proc_kb(child.id(), "VmRSS").unwrap_or(0),
            ready,
            consumed: metric("spanflow_messages_consumed_total"),
            open_sessions: metric("spanflow_open_sessions"),
            retries: metric("spanflow_sink_retries_total"),
            lag: metric("spanflow_consumer_lag"),
            in_flight: metric("spanflow_sink_in_flight"),
            behind_commits: behind_commits(&self.offsets, self.plan.name, "heartbeats", PARTITIONS),
            written: self.server.executed(),
        }
    }

    /// Runs the plan; returns the samples and what happened when, after checking the tables.
    fn run(&self) -> (Vec<Sample>, Events) {
        let plan = &self.plan;
        let mut child = self.start_process();
        let mut process = 1;
        let mut process_started = Instant::now();
        // Production starts once the process serves its metrics (it has joined its group).
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(&self.metrics_addr, "/ready").0 != 200 {
            assert!(child.try_wait().unwrap().is_none(), "{}", self.logs());
            assert!(
                Instant::now() < deadline,
                "not ready after 60 s:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let started = Instant::now();
        let started_unix = unix_now();
        let producing = {
            let bootstrap = self.tansu.bootstrap().to_owned();
            let (over, messages) = (plan.produce_for, self.messages.clone());
            std::thread::spawn(move || produce_steadily(&bootstrap, "heartbeats", &messages, over))
        };
        let mut producing = Some(producing);
        let mut samples: Vec<Sample> = Vec::new();
        let mut ev = Events {
            started_unix,
            ..Events::default()
        };
        let mut written_at_outage_end = 0;
        let mut written_at_restart = 0;
        let mut next_tick = started;
        let hard_deadline = plan.produce_for + plan.catch_up;
        loop {
            next_tick += Duration::from_secs(1);
            if let Some(wait) = next_tick.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let at = started.elapsed();
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "spanflow exited ({status}) at {at:?} of the soak:\n{}",
                    self.logs()
                );
            }
            let s = self.sample(at, process, process_started.elapsed(), &child);

            // The outage.
            if ev.outage_started.is_none() && at >= plan.outage_at {
                self.server.outage();
                ev.outage_started = Some(at);
            } else if let (Some(down), None) = (ev.outage_started, ev.outage_ended) {
                if s.ready != 200 {
                    ev.not_ready_secs += 1;
                }
                if at >= down + plan.outage_for {
                    ev.retries_in_outage = s.retries;
                    self.server.resume();
                    ev.outage_ended = Some(started.elapsed());
                    written_at_outage_end = self.server.executed();
                }
            } else if let Some(up) = ev.outage_ended {
                if ev.first_write_after_outage.is_none() {
                    if s.ready != 200 {
                        ev.not_ready_secs += 1;
                    }
                    if s.written > written_at_outage_end {
                        ev.first_write_after_outage = Some(at - up);
                    }
                }
                if ev.ready_after_outage.is_none() && s.ready == 200 {
                    ev.ready_after_outage = Some(at - up);
                }
            }

            // The restart.
            if ev.sigterm.is_none() && at >= plan.restart_at {
                samples.push(s);
                ev.sigterm = Some(at);
                let term = Instant::now();
                stop_gracefully(child, &self.output);
                ev.drain_took = Some(term.elapsed());
                written_at_restart = self.server.executed();
                child = self.start_process();
                process = 2;
                process_started = Instant::now();
                next_tick = Instant::now();
                continue;
            }
            if let (Some(term), None) = (ev.sigterm, ev.first_write_after_restart) {
                if s.written > written_at_restart {
                    ev.first_write_after_restart = Some(at - term);
                }
            }

            // The end: production done, then every row in the tables.
            if producing.as_ref().is_some_and(|p| p.is_finished()) {
                producing.take().unwrap().join().unwrap();
                ev.production_done = Some(at);
            }
            if ev.all_rows.is_none()
                && ev.production_done.is_some()
                && ev.outage_ended.is_some()
                && ev.sigterm.is_some()
                && s.written as usize >= self.want.len()
                && at.as_secs().is_multiple_of(5)
                && rows_on(&self.server, &self.program).len() >= self.want.len()
            {
                ev.all_rows = Some(at);
            }
            samples.push(s);
            // Keep sampling the second process until its steady phase holds enough samples
            // to judge its RSS, even when it caught up quickly (it then idles: that memory
            // must stay flat too).
            let judgeable = process_started.elapsed() >= plan.warm_up + JUDGED_AT_LEAST;
            if ev.all_rows.is_some() && judgeable {
                break;
            }
            assert!(
                ev.all_rows.is_some() || at < hard_deadline,
                "not every row written {:?} after production started ({} of {} rows, {} \
                 inserts):\n{}",
                at,
                rows_on(&self.server, &self.program).len(),
                self.want.len(),
                self.server.executed(),
                self.logs()
            );
        }
        stop_gracefully(child, &self.output);
        self.check_tables();
        (samples, ev)
    }

    /// The tables hold exactly the clean run's rows.
    fn check_tables(&self) {
        let got = rows_on(&self.server, &self.program);
        let missing: Vec<_> = self.want.keys().filter(|k| !got.contains_key(*k)).collect();
        let extra: Vec<_> = got.keys().filter(|k| !self.want.contains_key(*k)).collect();
        let different: Vec<_> = self
            .want
            .iter()
            .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty() && different.is_empty(),
            "the tables differ from the clean run: {} missing (first {:?}), {} extra (first \
             {:?}), {} different (first {:?})",
            missing.len(),
            missing.first(),
            extra.len(),
            extra.first(),
            different.len(),
            different.first().map(|(k, v)| (k, v, got.get(*k))),
        );
    }
}

/// A stretch of the soak with nothing forced on the process: where its RSS must be flat.
#[derive(Debug)]
struct Phase {
    name: &'static str,
    process: usize,
    /// Soak time (since production started).
    from: Duration,
    until: Duration,
}

/// The steady phases: each process from `warm_up` after its start, the first one until the
/// outage and again from `warm_up` after the outage ended until the restart. The outage itself
/// is not judged: memory grows while messages and writes back up, and the allocator keeps the
/// pages afterwards (bounded by [`Plan::rss_ceiling`]).
fn steady_phases(plan: &Plan, samples: &[Sample], ev: &Events) -> Vec<Phase> {
    let end = samples.last().map_or(Duration::ZERO, |s| s.at);
    let restart = ev.sigterm.unwrap_or(end);
    let second_start = samples
        .iter()
        .find(|s| s.process == 2)
        .map_or(end, |s| s.at - s.process_age);
    vec![
        Phase {
            name: "process 1, before the outage",
            process: 1,
            from: plan.warm_up,
            until: ev.outage_started.unwrap_or(restart),
        },
        Phase {
            name: "process 1, after the outage",
            process: 1,
            from: ev.outage_ended.unwrap_or(restart) + plan.warm_up,
            until: restart,
        },
        Phase {
            name: "process 2",
            process: 2,
            from: second_start + plan.warm_up,
            until: end + Duration::from_secs(1),
        },
    ]
}

/// RSS within a steady phase.
#[derive(Debug)]
struct PhaseRss {
    /// Medians of the first and last tenth of the samples, and the maximum (kB).
    first_kb: u64,
    last_kb: u64,
    max_kb: u64,
    /// Least-squares slope, kB per minute.
    slope_kb_per_min: f64,
    samples: usize,
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// How long a steady phase must last for its RSS to be judged: [`phase_rss`] wants 10
/// samples at one a second, with slack for a late tick.
const JUDGED_AT_LEAST: Duration = Duration::from_secs(13);

/// RSS within `phase`; `None` when it has fewer than 10 samples (too short to judge, as in the
/// short soak).
fn phase_rss(samples: &[Sample], phase: &Phase) -> Option<PhaseRss> {
    let judged: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.process == phase.process && s.rss_kb > 0)
        .filter(|s| s.at >= phase.from && s.at < phase.until)
        .collect();
    if judged.len() < 10 {
        return None;
    }
    let tenth = (judged.len() / 10).max(1);
    let kb = |s: &[&Sample]| median(s.iter().map(|s| s.rss_kb).collect());
    let n = judged.len() as f64;
    let xs: Vec<f64> = judged.iter().map(|s| s.at.as_secs_f64() / 60.0).collect();
    let ys: Vec<f64> = judged.iter().map(|s| s.rss_kb as f64).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    Some(PhaseRss {
        first_kb: kb(&judged[..tenth]),
        last_kb: kb(&judged[judged.len() - tenth..]),
        max_kb: judged.iter().map(|s| s.rss_kb).max().unwrap(),
        slope_kb_per_min: if var > 0.0 { cov / var } else { 0.0 },
        samples: judged.len(),
    })
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

/// The steady phases with their RSS (`None`: too short to judge), and the whole soak's
/// highest RSS.
struct RssJudged<'a> {
    phases: Vec<(&'a Phase, Option<PhaseRss>)>,
    max_kb: u64,
}

/// The result table (Markdown).
fn report(soak: &Soak, samples: &[Sample], ev: &Events, rss: &RssJudged<'_>) -> String {
    let plan = &soak.plan;
    let consumed_rate = |process: usize| {
        // Messages per second while the producer ran and nothing was being caught up: the
        // last minute of production (or its second half in a short soak) of that process.
        let of: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.process == process && ev.production_done.is_none_or(|d| s.at <= d))
            .collect();
        let tail = &of[of.len() / 2..];
        match (tail.first(), tail.last()) {
            (Some(a), Some(b)) if b.at > a.at => {
                (b.consumed - a.consumed) / (b.at - a.at).as_secs_f64()
            }
            _ => 0.0,
        }
    };
    let open: Vec<f64> = samples
        .iter()
        .filter(|s| s.process_age >= plan.warm_up)
        .map(|s| s.open_sessions)
        .collect();
    let max_lag = samples.iter().map(|s| s.lag).fold(0.0, f64::max);
    let mut t = String::new();
    let _ = writeln!(t, "| soak `{}` | value |", plan.name);
    let _ = writeln!(t, "|---|---|");
    let _ = writeln!(
        t,
        "| load | {} messages ({} sessions × {} events, waves of {} every 5 min of event time) at {}/s over {} s, 4 partitions, tansu 0.6 → kassandra |",
        soak.messages.len(),
        plan.sessions(),
        plan.events_per_session,
        plan.sessions_per_wave,
        plan.rate,
        plan.produce_for.as_secs()
    );
    let _ = writeln!(
        t,
        "| result | tables identical to the clean file run: {} rows |",
        soak.want.len()
    );
    let _ = writeln!(
        t,
        "| Scylla outage | {} s at {}; `/ready` 503 for {} s; {} retries; first write {} after it ended, ready again {} after |",
        plan.outage_for.as_secs(),
        secs(ev.outage_started),
        ev.not_ready_secs,
        ev.retries_in_outage,
        secs(ev.first_write_after_outage),
        secs(ev.ready_after_outage)
    );
    let _ = writeln!(
        t,
        "| restart | SIGTERM at {}, drained and exited 0 in {}; the new process's first write {} after the SIGTERM |",
        secs(ev.sigterm),
        secs(ev.drain_took),
        secs(ev.first_write_after_restart)
    );
    let _ = writeln!(
        t,
        "| consumption | {:.0}/s before the restart, {:.0}/s after it (produced: {}/s); max consumer lag {max_lag:.0} |",
        consumed_rate(1),
        consumed_rate(2),
        plan.rate
    );
    let behind = |process: usize| {
        samples
            .iter()
            .filter(|s| s.process == process)
            .map(|s| s.behind_commits)
            .max()
            .unwrap_or(0)
    };
    let _ = writeln!(
        t,
        "| committed offsets | at most {} messages behind the log ends in process 1, {} in process 2 |",
        behind(1),
        behind(2)
    );
    let _ = writeln!(
        t,
        "| catch-up | production ended at {}, every row in the tables at {} |",
        secs(ev.production_done),
        secs(ev.all_rows)
    );
    let _ = writeln!(
        t,
        "| open sessions after warm-up | {:.0}–{:.0} |",
        open.iter().copied().fold(f64::INFINITY, f64::min),
        open.iter().copied().fold(0.0, f64::max)
    );
    for (phase, r) in &rss.phases {
        let span = format!(
            "{:.0}–{:.0} s",
            phase.from.as_secs_f64(),
            phase.until.as_secs_f64()
        );
        let _ = match r {
            Some(r) => writeln!(
                t,
                "| RSS, {} ({span}, {} samples) | {} → {} (median of first and last tenth), max {}, slope {:+.0} kB/min |",
                phase.name,
                r.samples,
                mib(r.first_kb),
                mib(r.last_kb),
                mib(r.max_kb),
                r.slope_kb_per_min
            ),
            None => writeln!(t, "| RSS, {} ({span}) | too short to judge |", phase.name),
        };
    }
    let _ = writeln!(t, "| RSS, whole soak | max {} |", mib(rss.max_kb));
    t
}

/// Runs `plan` and checks it. Before the checks, writes the result table and the samples to
/// `target/<name>-report.md` and `target/<name>-samples.csv`, and with Prometheus the
/// dashboard's view of the run to `target/<name>-dashboard.json`.
fn soak(plan: Plan) {
    let Some(soak) = Soak::prepare(plan) else {
        return;
    };
    let (samples, ev) = soak.run();
    let phases = steady_phases(&soak.plan, &samples, &ev);
    let rss = RssJudged {
        phases: phases.iter().map(|p| (p, phase_rss(&samples, p))).collect(),
        max_kb: samples.iter().map(|s| s.rss_kb).max().unwrap_or(0),
    };
    let table = report(&soak, &samples, &ev, &rss);
    eprintln!("{table}");
    let csv: String = samples
        .iter()
        .map(|s| {
            format!(
                "{:.1},{},{},{},{},{},{},{},{},{},{}\n",
                s.at.as_secs_f64(),
                s.process,
                s.rss_kb,
                s.ready,
                s.consumed,
                s.open_sessions,
                s.retries,
                s.lag,
                s.in_flight,
                s.behind_commits,
                s.written
            )
        })
        .collect();
    let dir = target_dir();
    let name = soak.plan.name;
    std::fs::write(dir.join(format!("{name}-report.md")), &table).unwrap();
    std::fs::write(
        dir.join(format!("{name}-samples.csv")),
        format!("at_s,process,rss_kb,ready,consumed,open_sessions,retries,lag,in_flight,behind_commits,written\n{csv}"),
    )
    .unwrap();
    if let Some(prometheus) = &soak.prometheus {
        let view = dashboard_view(&soak, prometheus, &ev);
        std::fs::write(
            dir.join(format!("{name}-dashboard.json")),
            serde_json::to_string(&view).unwrap(),
        )
        .unwrap();
    }
    assert!(
        ev.not_ready_secs > 0,
        "`/ready` never said 503 during the outage"
    );
    assert!(
        ev.retries_in_outage > 0.0,
        "no sink retries during the outage"
    );
    let (fraction, constant) = soak.plan.rss_growth;
    let judged: Vec<(&Phase, &PhaseRss)> = rss
        .phases
        .iter()
        .filter_map(|(p, r)| r.as_ref().map(|r| (*p, r)))
        .collect();
    assert!(
        judged.iter().any(|(p, _)| p.process == 2),
        "the restarted process ran too briefly to judge its RSS:\n{table}"
    );
    for (phase, r) in &judged {
        let allowed = (r.first_kb as f64 * (1.0 + fraction)) as u64 + constant;
        assert!(
            r.last_kb <= allowed,
            "{}: RSS grew from {} to {} (allowed {}):\n{table}",
            phase.name,
            mib(r.first_kb),
            mib(r.last_kb),
            mib(allowed)
        );
    }
    let ceiling = judged[0].1.first_kb + soak.plan.rss_ceiling;
    assert!(
        rss.max_kb <= ceiling,
        "RSS reached {} (allowed {}: the first steady level plus {}):\n{table}",
        mib(rss.max_kb),
        mib(ceiling),
        mib(soak.plan.rss_ceiling)
    );
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Grafana's legend template filled from a series' labels (`{{topic}}/{{partition}}`).
fn legend(template: &str, labels: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = template.to_owned();
    for (k, v) in labels {
        out = out.replace(&format!("{{{{{k}}}}}"), v.as_str().unwrap_or(""));
    }
    out
}

/// The dashboard's view of the run: every panel's queries over the whole run, as Prometheus
/// answers them to Grafana, with the soak's events as annotations. Written for
/// `scripts/dashboard_preview.py` to draw; every panel must have data but dead letters (this
/// run has none).
fn dashboard_view(soak: &Soak, prometheus: &Prometheus, ev: &Events) -> serde_json::Value {
    let (start, end) = (ev.started_unix, unix_now());
    let step = if end - start > 300.0 { 2.0 } else { 1.0 };
    let at = |d: Option<Duration>, text: &str| {
        d.map(|d| serde_json::json!({ "at": start + d.as_secs_f64(), "text": text }))
    };
    let annotations: Vec<serde_json::Value> = [
        at(ev.outage_started, "Scylla outage"),
        at(ev.outage_ended, "Scylla back"),
        at(ev.sigterm, "SIGTERM, restart"),
        at(ev.production_done, "production ends"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut empty = Vec::new();
    let mut panels = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for panel in dashboard_panels(root, soak.plan.name, "10s") {
        let mut series = Vec::new();
        for target in &panel.targets {
            let answer = prometheus.query_range(&target.expr, start, end, step);
            assert_eq!(
                answer["status"],
                "success",
                "{}: `{}`: {answer}\n{}",
                panel.title,
                target.expr,
                prometheus.log()
            );
            for result in answer["data"]["result"].as_array().into_iter().flatten() {
                let labels = result["metric"].as_object().cloned().unwrap_or_default();
                series.push(serde_json::json!({
                    "legend": legend(&target.legend, &labels),
                    "values": result["values"],
                }));
            }
        }
        if series.is_empty() {
            empty.push(panel.title.clone());
        }
        panels.push(serde_json::json!({
            "title": panel.title,
            "gridPos": panel.grid_pos,
            "unit": panel.unit,
            "log_scale": panel.log_scale,
            "series": series,
        }));
    }
    assert_eq!(
        empty,
        ["Dead letters / s by reason"],
        "dashboard panels without data over the soak (only dead letters may be empty)"
    );
    serde_json::json!({
        "title": format!("spanflow, soak `{}`", soak.plan.name),
        "start": start,
        "end": end,
        "step": step,
        "annotations": annotations,
        "panels": panels,
    })
}

/// Where a soak writes its report and samples: Cargo's target directory.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

#[test]
fn a_short_soak_loses_nothing_through_an_outage_and_a_restart() {
    soak(Plan::short());
}

/// The 10-minute soak: `scripts/soak.sh` (release build), about 12 minutes.
#[test]
#[ignore = "10 minutes; run by scripts/soak.sh"]
fn ten_minute_soak() {
    soak(Plan::ten_minutes());
}
