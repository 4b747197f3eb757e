//! The shipped specs: they validate cleanly, their own YAML tests pass, and their output on the
//! generated fixtures matches checked-in golden files (`fixtures/expected/*.jsonl`).
//!
//! Regenerate the golden files after an intended change with
//! `SPANFLOW_BLESS=1 cargo test --test integration specs::`, then review the diff. After a
//! generator change, `SPANFLOW_BLESS=1 cargo test --workspace` first regenerates the fixtures.

use serde_json::Value;
use spanflow::app::{run_program_on_file, validate_report, RunSummary};
use spanflow::generate::{
    device_telemetry, video_sessions, DeviceTelemetry, GenConfig, Heartbeat, UserAction,
};
use spanflow::spec_file::load;
use spanflow::spec_test::run_all;
use spanflow_operators::Program;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The repository root (the root crate's manifest directory).
pub(crate) fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `.yaml` files under `dir`, recursively, sorted (so test order and snapshots are stable).
pub(crate) fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Every spec under `dag-specs/`.
pub(crate) fn shipped_specs() -> Vec<PathBuf> {
    let specs = yaml_files(&repo_root().join("dag-specs"));
    assert!(!specs.is_empty(), "no specs found under dag-specs/");
    specs
}

fn program(path: &Path) -> Program {
    load(path)
        .program
        .unwrap_or_else(|p| panic!("{}: {p:?}", path.display()))
}

#[test]
fn shipped_specs_validate_without_warnings() {
    for path in shipped_specs() {
        // `deny_warnings`: a warning (e.g. a node nothing reads) fails like an error.
        let (ok, report) = validate_report(&load(&path), true);
        assert!(ok && report.is_empty(), "{}:\n{report}", path.display());
    }
}

#[test]
fn shipped_specs_pass_their_own_tests() {
    for path in shipped_specs() {
        let program = program(&path);
        let outcomes = run_all(&program);
        assert!(!outcomes.is_empty(), "{} has no tests", path.display());
        for o in outcomes {
            if let Err(diff) = o.result {
                panic!("{}: test `{}` failed:\n{diff}", path.display(), o.name);
            }
        }
    }
}

/// A generated data set: the name used in golden file names, and the same events in every
/// format (file, schema directory for framed files).
struct Dataset {
    name: &'static str,
    inputs: &'static [(&'static str, Option<&'static str>)],
}

const HEARTBEATS: Dataset = Dataset {
    name: "heartbeats-small",
    inputs: &[
        ("fixtures/generated/heartbeats-small.avro", None),
        (
            "fixtures/generated/heartbeats-small.framed",
            Some("fixtures/avro/registry"),
        ),
    ],
};

const TELEMETRY: Dataset = Dataset {
    name: "telemetry-small",
    inputs: &[("fixtures/generated/telemetry-small.avro", None)],
};

/// The data set a spec runs on, chosen by the schema it names: a new spec on a new schema must
/// get a fixture here before it can pass.
fn dataset_for(path: &Path, program: &Program) -> &'static Dataset {
    let schema = program.input.schema.as_deref().unwrap_or_default();
    match Path::new(schema).file_name().and_then(|n| n.to_str()) {
        Some("heartbeat.avsc") => &HEARTBEATS,
        Some("device_telemetry.avsc") => &TELEMETRY,
        _ => panic!(
            "{}: no generated fixture for schema `{schema}`; add a Dataset in tests/specs.rs",
            path.display()
        ),
    }
}

/// Runs `program` on a file of the repository; returns the JSON lines and the summary.
fn run(program: &Program, input: &str, schemas: Option<&str>) -> (String, RunSummary) {
    let root = repo_root();
    let schemas = schemas.map(|s| root.join(s));
    let mut out = Vec::new();
    let summary = run_program_on_file(program, &root.join(input), schemas.as_deref(), &mut out)
        .unwrap_or_else(|e| panic!("{input}: {e}"));
    (String::from_utf8(out).unwrap(), summary)
}

#[test]
fn golden_outputs_of_shipped_specs() {
    let bless = std::env::var("SPANFLOW_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for path in shipped_specs() {
        let program = program(&path);
        if !program.input.lookups.is_empty() {
            // Lookups need a cluster: `lookups.rs` runs these against kassandra.
            continue;
        }
        let dataset = dataset_for(&path, &program);
        let mut first: Option<(&str, String)> = None;
        for &(input, schemas) in dataset.inputs {
            let (text, summary) = run(&program, input, schemas);
            assert!(summary.records > 0, "{input}: no records");
            assert!(summary.bad_records.is_empty(), "{input}: {summary:?}");
            assert_eq!(summary.stats.late_dropped, 0, "{input}");
            assert!(summary.stats.rows > 0, "{input}: no rows");
            // The container file and the framed messages hold the same events.
            match &first {
                None => first = Some((input, text)),
                Some((other, expected)) => {
                    if let Err(diff) = compare_lines(expected, &text) {
                        failures.push(format!(
                            "{}: {input} differs from {other}:\n{diff}",
                            path.display()
                        ));
                    }
                }
            }
        }
        let (_, text) = first.expect("a data set has at least one input");
        let stem = path.file_stem().unwrap().to_string_lossy();
        let golden = repo_root()
            .join("fixtures/expected")
            .join(format!("{stem}__{}.jsonl", dataset.name));
        if bless {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &text).unwrap();
            continue;
        }
        let expected = match std::fs::read_to_string(&golden) {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!(
                    "{}: {e}; create it with SPANFLOW_BLESS=1",
                    golden.display()
                ));
                continue;
            }
        };
        if let Err(diff) = compare_lines(&expected, &text) {
            failures.push(format!(
                "{} on {} differs from {} (if intended, rerun with SPANFLOW_BLESS=1 and review):\n{diff}",
                path.display(),
                dataset.name,
                golden.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `Ok` when the JSON lines match (numbers within 1e-9 relative, so summation-order noise in
/// the last digit is not a failure), else the first differing lines.
fn compare_lines(expected: &str, actual: &str) -> Result<(), String> {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut diff = Vec::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i).copied(), a.get(i).copied());
        if x.zip(y).is_some_and(|(x, y)| same_row(x, y)) {
            continue;
        }
        diff.push(format!(
            "  line {}:\n    - {}\n    + {}",
            i + 1,
            x.unwrap_or("(none)"),
            y.unwrap_or("(none)")
        ));
        if diff.len() == 5 {
            diff.push("  ...".into());
            break;
        }
    }
    if diff.is_empty() {
        return Ok(());
    }
    Err(format!(
        "expected {} line(s), got {}; first differences:\n{}",
        e.len(),
        a.len(),
        diff.join("\n")
    ))
}

fn same_row(x: &str, y: &str) -> bool {
    x == y
        || match (
            serde_json::from_str::<Value>(x),
            serde_json::from_str::<Value>(y),
        ) {
            (Ok(x), Ok(y)) => close(&x, &y),
            _ => false,
        }
}

fn close(x: &Value, y: &Value) -> bool {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| close(v, w)))
        }
        _ => x == y,
    }
}

/// CIR of one session computed the slow, obvious way from its events: walk the gaps between
/// consecutive events and count the part of each gap where the player is buffering after
/// having played, outside 5 s after a seek. Returns milliseconds (on CDN1, on all CDNs).
fn cir_by_hand(events: &[&Heartbeat]) -> (i64, i64) {
    let (mut state, mut cdn) = (None, None);
    let (mut started, mut last_seek) = (false, None::<i64>);
    let (mut cdn1, mut all) = (0, 0);
    for pair in events.windows(2) {
        let (e, next) = (pair[0], pair[1]);
        state = e.player_state.as_deref().or(state);
        cdn = e.cdn.as_deref().or(cdn);
        started |= e.player_state.as_deref() == Some("play");
        if e.user_action == Some(UserAction::Seek) {
            last_seek = Some(e.timestamp);
        }
        if state == Some("buffer") && started {
            // No event lies inside the gap, so only the latest seek's window can cover it.
            let (a, b) = (e.timestamp, next.timestamp);
            let seek_end = last_seek.map_or(a, |s| (s + 5000).clamp(a, b));
            let counted = b - seek_end;
            all += counted;
            if cdn == Some("CDN1") {
                cdn1 += counted;
            }
        }
    }
    (cdn1, all)
}

#[test]
fn golden_cir_numbers_agree_with_a_computation_by_hand() {
    // The heartbeat fixtures are written from the default generator config.
    let events = video_sessions(&GenConfig::default());
    let mut sessions: BTreeMap<&str, Vec<&Heartbeat>> = BTreeMap::new();
    for e in &events {
        sessions.entry(&e.session_id).or_default().push(e);
    }
    let spec = repo_root().join("dag-specs/video/connection_induced_rebuffering.yaml");
    let (text, summary) = run(&program(&spec), HEARTBEATS.inputs[0].0, None);
    assert_eq!(summary.records, events.len() as u64, "fixture is stale");
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), sessions.len());
    let mut nonzero = 0;
    for row in &rows {
        let session = row["session"].as_str().unwrap();
        let (cdn1, all) = cir_by_hand(&sessions[session]);
        let got = |c: &str| row[c].as_f64().unwrap();
        assert!(
            (got("cir_secs_cdn1") - cdn1 as f64 / 1000.0).abs() < 1e-6
                && (got("cir_secs_all_cdns") - all as f64 / 1000.0).abs() < 1e-6,
            "session {session}: by hand {cdn1} ms on CDN1, {all} ms in all; spec gave {row}"
        );
        // Evaluated at the session's last event.
        assert_eq!(row["time"], sessions[session].last().unwrap().timestamp);
        nonzero += usize::from(all > 0);
    }
    // The check means something only if the data has rebuffering to count.
    assert!(nonzero >= 5, "only {nonzero} sessions rebuffer");
}

/// Sustained risky seconds of one device computed by hand: walk its readings (each carries both
/// temperature and memory), find each run of risky readings (>= 60 °C and >= 4 GB), which lasts
/// until the next non-risky reading or the device's last reading, and count what exceeds 300 s.
/// Also returns how many runs there were.
fn sustained_risk_by_hand(readings: &[&DeviceTelemetry]) -> (i64, usize) {
    let (mut sustained_ms, mut runs, mut start) = (0, 0, None);
    let end = readings.last().map_or(0, |r| r.timestamp);
    for r in readings {
        let risky = r.battery_temp_c >= 60.0 && r.memory_gb >= 4.0;
        match (risky, start) {
            (true, None) => start = Some(r.timestamp),
            (false, Some(s)) => {
                sustained_ms += (r.timestamp - s - 300_000).max(0);
                runs += 1;
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        sustained_ms += (end - s - 300_000).max(0);
        runs += 1;
    }
    (sustained_ms, runs)
}

#[test]
fn golden_risky_device_numbers_agree_with_a_computation_by_hand() {
    let readings = device_telemetry(&GenConfig::telemetry_fixture());
    let mut devices: BTreeMap<&str, Vec<&DeviceTelemetry>> = BTreeMap::new();
    for r in &readings {
        devices.entry(&r.device_id).or_default().push(r);
    }
    let spec = repo_root().join("dag-specs/iot/risky_device.yaml");
    let (text, summary) = run(&program(&spec), TELEMETRY.inputs[0].0, None);
    assert_eq!(summary.records, readings.len() as u64, "fixture is stale");
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), devices.len());
    let (mut sustained, mut only_brief) = (0, 0);
    for row in &rows {
        let device = row["session"].as_str().unwrap();
        let (ms, runs) = sustained_risk_by_hand(&devices[device]);
        let got = row["sustained_risky_secs"].as_f64().unwrap();
        assert!(
            (got - ms as f64 / 1000.0).abs() < 1e-6,
            "device {device}: by hand {ms} ms past 5 minutes; spec gave {row}"
        );
        assert_eq!(row["time"], devices[device].last().unwrap().timestamp);
        sustained += usize::from(ms > 0);
        only_brief += usize::from(ms == 0 && runs > 0);
    }
    // The check means something only if some devices stay risky past 5 minutes and others
    // are risky only briefly (so the 5-minute threshold decides).
    assert!(
        sustained >= 2,
        "only {sustained} devices are risky for long"
    );
    assert!(
        only_brief >= 2,
        "only {only_brief} devices are risky briefly"
    );
}
