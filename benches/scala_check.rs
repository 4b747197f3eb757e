//! Checks that the Scala baselines (`benches/scala/`) compute exactly spanflow's rows, and shows
//! their speed next to spanflow's.
//!
//! Generates interleaved heartbeats, writes them as the TSV the Scala programs read, runs the CIR
//! and play-time specs through spanflow's `SessionProcessor` and through both Scala versions,
//! and compares the row checksums. Exits non-zero when any differs.
//!
//! ```sh
//! cargo bench --bench scala_check -- --sizes 200x300,2000x1000 --seeds 42,7 --iterations 5
//! ```
//!
//! Options (or environment): `--sizes` (`SCALA_CHECK_SIZES`, sessions x events per session,
//! default `200x300`), `--seeds` (`SCALA_CHECK_SEEDS`, default `42`), `--iterations`
//! (`SCALA_CHECK_ITERATIONS`, timed iterations per side, default 3). `SCALA_WARMUP` sets the
//! Scala warm-up iterations (default 5). Times exclude generating, encoding and decoding input.

mod support;

use spanflow::decode::{DecodePlan, DecodedEvent, SchemaSource};
use spanflow::generate::{
    encode_datums, video_sessions, Device, GenConfig, Heartbeat, UserAction, HEARTBEAT_SCHEMA,
};
use spanflow::pipeline::SessionProcessor;
use spanflow_engine::{Record, Str};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::Program;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use support::scala::{run_scala, write_events_tsv, Checksum};

/// The specs compared, by the names the Scala programs report.
const SPECS: [(&str, &str); 2] = [
    ("cir", "dag-specs/video/connection_induced_rebuffering.yaml"),
    ("play_time", "dag-specs/video/play_time_on_cdn.yaml"),
];

struct Options {
    sizes: Vec<(usize, usize)>,
    seeds: Vec<u64>,
    iterations: u32,
}

fn options() -> Result<Options, String> {
    let mut sizes = std::env::var("SCALA_CHECK_SIZES").unwrap_or_else(|_| "200x300".into());
    let mut seeds = std::env::var("SCALA_CHECK_SEEDS").unwrap_or_else(|_| "42".into());
    let mut iterations = std::env::var("SCALA_CHECK_ITERATIONS").unwrap_or_else(|_| "3".into());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--sizes" => sizes = value("--sizes")?,
            "--seeds" => seeds = value("--seeds")?,
            "--iterations" => iterations = value("--iterations")?,
            "--bench" => {} // added by `cargo bench`
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let sizes = sizes
        .split(',')
        .map(|s| {
            let (a, b) = s
                .split_once('x')
                .ok_or(format!("size `{s}`: expected SESSIONSxEVENTS"))?;
            let n = |v: &str| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|e| format!("size `{s}`: {e}"))
            };
            Ok((n(a)?, n(b)?))
        })
        .collect::<Result<_, String>>()?;
    let seeds = seeds
        .split(',')
        .map(|s| s.trim().parse().map_err(|e| format!("seed `{s}`: {e}")))
        .collect::<Result<_, String>>()?;
    let iterations = iterations
        .parse::<u32>()
        .map_err(|e| format!("iterations: {e}"))?
        .max(1);
    Ok(Options {
        sizes,
        seeds,
        iterations,
    })
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("scala-check")
}

/// What spanflow computed for one spec.
struct RustRun {
    sessions: u64,
    checksum: Checksum,
    ns_per_event: f64,
}

/// The events decoded for `program` (session key and record), as the file runs decode them.
fn decode_all(program: &Program, datums: &[Vec<u8>]) -> Result<Vec<(Str, Record)>, String> {
    let projection = spanflow::app::projection_of(program)?;
    let schema =
        SchemaSource::parse(HEARTBEAT_SCHEMA, "heartbeat.avsc").map_err(|e| e.to_string())?;
    let plan = DecodePlan::compile(&schema, &projection).map_err(|e| e.to_string())?;
    let mut event = DecodedEvent::default();
    datums
        .iter()
        .map(|d| {
            plan.decode(d, &mut event).map_err(|e| e.to_string())?;
            Ok((event.session_key.clone(), event.record.clone()))
        })
        .collect()
}

/// One pass: grouping, the DAG and the rows; returns the checksum, sessions and elapsed time.
fn run_once(program: &Program, events: Vec<(Str, Record)>) -> (Checksum, u64, f64) {
    let mut checksum = Checksum::default();
    let start = Instant::now();
    let mut processor = SessionProcessor::new(program);
    let mut emit = |_: &str, row: &Row| checksum.add(row);
    for (key, record) in events {
        processor
            .push(&key, record, &mut emit)
            .expect("drop policy: no errors");
    }
    processor.finish(&mut emit);
    let elapsed = start.elapsed().as_nanos() as f64;
    let sessions = processor.stats().sessions;
    (checksum, sessions, elapsed)
}

fn run_rust(program: &Program, events: &[(Str, Record)], iterations: u32) -> RustRun {
    // One untimed pass to warm caches, then the timed ones.
    let (checksum, sessions, _) = run_once(program, events.to_vec());
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let input = events.to_vec();
            let (c, _, t) = run_once(program, input);
            assert_eq!(c, checksum, "spanflow is deterministic");
            t
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    RustRun {
        sessions,
        checksum,
        ns_per_event: median / events.len().max(1) as f64,
    }
}

fn check(seed: u64, sessions: usize, per_session: usize, iterations: u32) -> Result<bool, String> {
    let config = GenConfig {
        seed,
        sessions,
        events_per_session: per_session,
        interleave: true,
        ..GenConfig::default()
    };
    let events = video_sessions(&config);
    let label = format!("seed {seed}, {sessions} sessions x {per_session} events");
    check_events(
        &label,
        &format!("{seed}-{sessions}x{per_session}"),
        &events,
        iterations,
    )
}

/// One hand-made event: only the fields the specs read are set.
fn event(
    session: &str,
    timestamp: i64,
    seq: i64,
    state: Option<&str>,
    action: Option<UserAction>,
    cdn: Option<&str>,
    network: Option<&str>,
) -> Heartbeat {
    Heartbeat {
        session_id: session.into(),
        timestamp,
        seq,
        player_state: state.map(str::to_owned),
        cdn: cdn.map(str::to_owned),
        bitrate_kbps: None,
        network: network.map(str::to_owned),
        user_action: action,
        device: Device {
            os: "Web".into(),
            model: "Firefox".into(),
        },
        buffer_length_sec: None,
        tags: Default::default(),
    }
}

/// Cases the generator rarely or never produces: events sharing a time and arriving out of
/// `seq` order, late events, a seek exactly when the previous seek's window closes, windows
/// closing at and between events, sliding-window edges and minute points on event instants.
fn edge_cases() -> Vec<Heartbeat> {
    use UserAction::{Click, Seek};
    let a = |t, seq, st, act, cdn| event("a", t, seq, st, act, cdn, None);
    let b = |t, seq, st, cdn, net| event("b", t, seq, st, None, cdn, net);
    vec![
        a(0, 0, Some("init"), None, Some("CDN1")),
        b(60_000, 0, Some("init"), Some("CDN1"), Some("wifi")),
        a(1_000, 1, Some("buffer"), None, None),
        a(2_000, 2, Some("play"), None, None),
        a(3_000, 3, Some("buffer"), Some(Seek), None),
        // A seek exactly when the window closes extends it.
        a(8_000, 4, None, Some(Seek), None),
        // Same time, arriving out of sequence order: `play` (seq 5) then `buffer` (seq 6).
        a(9_000, 6, Some("buffer"), None, None),
        a(9_000, 5, Some("play"), Some(Click), None),
        b(61_000, 1, Some("play"), None, None),
        // The window closes at this event's time; the next one closes between events.
        a(13_000, 7, None, None, None),
        a(14_000, 8, None, Some(Seek), None),
        a(25_000, 9, None, None, None),
        // Late: behind the session's newest event, dropped.
        a(20_000, 10, Some("play"), None, None),
        a(26_000, 11, None, None, Some("CDN2")),
        a(27_000, 12, None, None, Some("CDN1")),
        a(30_000, 13, None, None, None),
        b(90_000, 2, None, None, Some("cellular")),
        // The trailing edge of the change at 61 s coincides with this change.
        b(121_000, 3, None, None, Some("wifi")),
        b(150_000, 4, Some("pause"), None, None),
        b(150_000, 5, Some("play"), None, None),
        // A minute point on an event instant, with a trailing edge on it too.
        b(180_000, 6, None, Some("CDN2"), None),
        b(181_000, 7, None, Some("CDN1"), None),
        b(240_000, 8, None, None, None),
        b(241_000, 9, Some("buffer"), None, None),
        b(400_000, 10, Some("stop"), None, None),
        event(
            "c",
            500_000,
            0,
            Some("play"),
            None,
            Some("CDN1"),
            Some("wifi"),
        ),
    ]
}

/// Runs `events` through spanflow and both Scala versions; whether every checksum matched.
fn check_events(
    label: &str,
    file: &str,
    events: &[Heartbeat],
    iterations: u32,
) -> Result<bool, String> {
    let dir = work_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tsv = dir.join(format!("heartbeats-{file}.tsv"));
    write_events_tsv(events, &tsv).map_err(|e| format!("{}: {e}", tsv.display()))?;
    let datums = encode_datums(HEARTBEAT_SCHEMA, events).map_err(|e| e.to_string())?;

    println!("\n{label} = {} events ({})", events.len(), tsv.display());
    let mut rust = Vec::new();
    for (name, spec) in SPECS {
        let loaded = spanflow::spec_file::load(&root().join(spec));
        let program = loaded.program_or_report()?;
        let decoded = decode_all(program, &datums)?;
        rust.push((name, run_rust(program, &decoded, iterations)));
    }
    let scala = run_scala(&tsv, iterations)?;

    println!(
        "{:<12} {:<10} {:>8} {:>10} {:>12} {:>9}  checksum",
        "impl", "spec", "sessions", "events", "ns/event", "vs rust"
    );
    let mut ok = true;
    for (name, r) in &rust {
        println!(
            "{:<12} {:<10} {:>8} {:>10} {:>12.1} {:>9}  {}",
            "spanflow",
            name,
            r.sessions,
            events.len(),
            r.ns_per_event,
            "1.0x",
            r.checksum
        );
    }
    for (name, r) in &rust {
        for implementation in ["scala-seed", "scala-tuned"] {
            let Some(s) = scala
                .iter()
                .find(|s| s.implementation == implementation && s.spec == *name)
            else {
                println!("{implementation:<12} {name:<10} MISSING from run.sh's output");
                ok = false;
                continue;
            };
            let expected = r.checksum.to_string();
            let same = s.checksum == expected && s.sessions == r.sessions;
            ok &= same;
            println!(
                "{:<12} {:<10} {:>8} {:>10} {:>12.1} {:>8.1}x  {}{}",
                s.implementation,
                s.spec,
                s.sessions,
                s.events,
                s.ns_per_event,
                s.ns_per_event / r.ns_per_event,
                s.checksum,
                if same {
                    "  (same)".to_string()
                } else {
                    format!("  DIFFERS from spanflow's {expected}")
                }
            );
        }
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("scala_check: {e}");
            return ExitCode::from(2);
        }
    };
    let mut all_same = match check_events("hand-made edge cases", "edge-cases", &edge_cases(), 1) {
        Ok(same) => same,
        Err(e) => {
            eprintln!("scala_check: {e}");
            return ExitCode::FAILURE;
        }
    };
    for &seed in &options.seeds {
        for &(sessions, per_session) in &options.sizes {
            match check(seed, sessions, per_session, options.iterations) {
                Ok(same) => all_same &= same,
                Err(e) => {
                    eprintln!("scala_check: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if all_same {
        println!("\nall checksums match");
        ExitCode::SUCCESS
    } else {
        println!("\nCHECKSUMS DIFFER");
        ExitCode::FAILURE
    }
}
