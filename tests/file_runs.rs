//! `spanflow run --input` as a Unix tool: a run that read nothing useful fails, losses are
//! announced, the output file changes only when the run succeeds, SIGINT stops with a summary,
//! closed pipes end commands quietly, and a config that cannot be used is an error.

use crate::bad_input::{
    by_session, cir, clean_output, dropping, events, framed, messages, ocf, Scratch,
};
use crate::specs::repo_root;
use spanflow::app::{run_program_on_file_with, RunError, RunOptions, RunSummary};
use spanflow::generate::{Heartbeat, OcfCodec};
use spanflow_operators::spec::{BadRecordPolicy, LateEventPolicy};
use spanflow_operators::Program;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn spanflow() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spanflow"));
    c.env_remove("SPANFLOW_CONFIG").env("RUST_LOG", "info");
    c
}

fn run_cli(args: &[&str]) -> Output {
    spanflow().args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn root(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

fn cir_spec() -> String {
    root("dag-specs/video/connection_induced_rebuffering.yaml")
        .display()
        .to_string()
}

/// A run of the CLI's kind (the bad-record budget enforced), through the library.
fn budgeted(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
) -> Result<(String, RunSummary), String> {
    let mut out = Vec::new();
    let options = RunOptions {
        enforce_budget: true,
        ..RunOptions::default()
    };
    match run_program_on_file_with(program, input, schemas, &mut out, None, options) {
        Ok(s) => Ok((String::from_utf8(out).unwrap(), s)),
        Err(RunError::Failed(e)) => Err(e),
        Err(RunError::BrokenPipe) => panic!("no pipe here"),
    }
}

#[test]
fn a_run_that_reads_nothing_useful_fails() {
    let registry = root("fixtures/avro/registry");
    let prefix = format!("{}/", repo_root().display());
    let spec = cir_spec();
    for (file, schemas) in [
        ("header_sync_damaged.avro", None),
        ("first_length_wrong.framed", Some(registry.as_path())),
        ("every_record_bad.framed", Some(registry.as_path())),
    ] {
        let input = root(&format!("fixtures/bad_input/{file}"));
        // Before: every bad record was counted and skipped, and the run exited 0 with no rows.
        let e = budgeted(&dropping(), &input, schemas).unwrap_err();
        assert!(e.contains("nothing could be read"), "{file}: {e}");
        insta::assert_snapshot!(file, e.replace(&prefix, ""));

        let mut args = vec!["run", &spec, "--input"];
        let input = input.display().to_string();
        args.push(&input);
        let schemas = schemas.map(|s| s.display().to_string());
        if let Some(s) = &schemas {
            args.extend(["--schemas", s]);
        }
        let out = run_cli(&args);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{file}: no rows");
        assert!(stderr(&out).contains("nothing could be read"), "{file}");
    }
}

/// The clean messages of the CIR test events with `bad` of them given a wrong magic byte.
fn with_bad_messages(scratch: &Scratch, name: &str, bad: usize) -> PathBuf {
    let mut all = messages(&events(true));
    for m in all.iter_mut().step_by(7).take(bad) {
        m[0] = 1;
    }
    scratch.write(name, &framed(&all))
}

#[test]
fn the_bad_record_budget_stops_runs_that_lose_too_much() {
    let scratch = Scratch::new("budget");
    let schemas = scratch.registry();
    let total = events(true).len();
    // 10 of 240 (4%) is within the default ratio (10%); 30 (12.5%) is not.
    let few = with_bad_messages(&scratch, "few.framed", 10);
    let (_, s) = budgeted(&dropping(), &few, Some(&schemas)).unwrap();
    assert_eq!(s.bad(), 10);
    let many = with_bad_messages(&scratch, "many.framed", 30);
    let e = budgeted(&dropping(), &many, Some(&schemas)).unwrap_err();
    let read = total;
    assert!(
        e.contains(&format!("30 of {read} records (12.5%)"))
            && e.contains("input.max_bad_ratio (0.1)")
            && e.contains("30 bad_magic")
            && e.contains("bad magic byte 0x01"),
        "{e}"
    );
    // The ratio and the count are the spec's.
    let mut lenient = dropping();
    lenient.input.max_bad_ratio = 0.2;
    budgeted(&lenient, &many, Some(&schemas)).unwrap();
    let mut strict = dropping();
    strict.input.max_bad_records = Some(5);
    let e = budgeted(&strict, &few, Some(&schemas)).unwrap_err();
    assert!(
        e.contains("more than input.max_bad_records (5)") && e.contains("6 bad_magic"),
        "{e}"
    );
    // With the `fail` policy the first bad record stops the run, as before.
    let e = budgeted(
        &cir(BadRecordPolicy::Fail, LateEventPolicy::Drop),
        &few,
        Some(&schemas),
    )
    .unwrap_err();
    assert!(e.contains("on_bad_record is `fail`"), "{e}");
}

#[test]
fn skipped_bad_records_are_logged_at_powers_of_two() {
    let scratch = Scratch::new("log-throttle");
    let schemas = scratch.registry();
    // 20 of 240: within a 10 % budget.
    let input = with_bad_messages(&scratch, "twenty.framed", 20);
    let spec = cir_spec();
    let (input, schemas) = (input.display().to_string(), schemas.display().to_string());
    let out = run_cli(&["run", &spec, "--input", &input, "--schemas", &schemas]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    // The 1st, 2nd, 4th, 8th and 16th, then the summary's count: never one line per record.
    let skipped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Skipped a bad record"))
        .collect();
    assert_eq!(skipped.len(), 5, "{log}");
    assert!(skipped[4].contains("count=16"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("Bad records were skipped") && l.contains("count=20")),
        "{log}"
    );
}

/// The test events with every run of `chunk` consecutive events of the stream reversed: each
/// session's events arrive out of order.
fn out_of_order(events: &[Heartbeat], chunk: usize) -> Vec<Heartbeat> {
    events
        .chunks(chunk)
        .flat_map(|c| c.iter().rev().cloned())
        .collect()
}

#[test]
fn late_drops_are_announced_and_sort_keeps_them() {
    let scratch = Scratch::new("late-warning");
    let clean = clean_output(&scratch, &events(true));
    let (bytes, _) = ocf(&out_of_order(&events(true), 12), OcfCodec::Null);
    let input = scratch.write("shuffled.avro", &bytes);
    let input = input.display().to_string();

    let out = run_cli(&["run", &cir_spec(), "--input", &input]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let warning = err
        .lines()
        .find(|l| l.contains("WARN") && l.contains("were dropped"))
        .unwrap_or_else(|| panic!("no warning about late events:\n{err}"));
    assert!(
        warning.contains("of 240 events arrived behind their session's newest event")
            && warning.contains("raise input.lateness_secs")
            && warning.contains("--sort"),
        "{warning}"
    );

    let out = run_cli(&["run", &cir_spec(), "--input", &input, "--sort"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("were dropped"), "{}", stderr(&out));
    assert!(stderr(&out).contains("late_dropped=0"), "{}", stderr(&out));
    let rows = by_session(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        rows, clean,
        "sorted, the shuffled file gives the clean rows"
    );
}

#[test]
fn the_output_file_changes_only_when_the_run_succeeds() {
    let scratch = Scratch::new("atomic-output");
    let heartbeats = root("fixtures/generated/heartbeats-small.avro");
    let input = scratch.write("in.avro", &std::fs::read(&heartbeats).unwrap());
    let (input_s, spec) = (input.display().to_string(), cir_spec());

    // `--output` naming the input: refused, the input intact.
    let out = run_cli(&["run", &spec, "--input", &input_s, "--output", &input_s]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is the input file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&input).unwrap(),
        std::fs::read(&heartbeats).unwrap()
    );

    let output = scratch.write("rows.jsonl", b"earlier rows\n");
    let output_s = output.display().to_string();
    // A mistyped input, a damaged input: the earlier output stays.
    let damaged = root("fixtures/bad_input/header_sync_damaged.avro");
    for bad in [scratch.path().join("no-such.avro"), damaged] {
        let bad = bad.display().to_string();
        let out = run_cli(&["run", &spec, "--input", &bad, "--output", &output_s]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert_eq!(std::fs::read_to_string(&output).unwrap(), "earlier rows\n");
    }
    // A good run replaces it, and leaves no temporary file behind.
    let out = run_cli(&["run", &spec, "--input", &input_s, "--output", &output_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&output).unwrap().lines().count(),
        20
    );
    let mut names: Vec<String> = std::fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["in.avro", "rows.jsonl"].map(String::from));
}

/// A spec with a row at every event, so rows flow while the file is read.
fn every_event_spec(scratch: &Scratch) -> PathBuf {
    let schema = root("fixtures/avro/heartbeat.avsc");
    let yaml = format!(
        "name: states\ninput:\n  session_key: sessionId\n  time: timestamp\n  sequence: seq\n  \
         schema: {}\nnodes:\n  - id: events\n    op: event_source\n  - id: updates\n    op: get\n    \
         inputs: [events]\n    with: {{ field: playerState }}\n  - id: player_state\n    \
         op: latest_event_to_state\n    inputs: [updates]\noutputs:\n  - name: states\n    \
         evaluate_at: every_event\n    columns: [player_state]\n",
        schema.display()
    );
    scratch.write("states.yaml", yaml.as_bytes())
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn sigint_stops_a_file_run_with_whole_lines_and_a_summary() {
    let scratch = Scratch::new("sigint");
    let spec = every_event_spec(&scratch);
    let (bytes, blocks) = ocf(&events(true), OcfCodec::Null);
    // A named pipe: the run reads the first half, then waits for more while it is signalled.
    let fifo = scratch.path().join("in.avro");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let output = scratch.path().join("rows.jsonl");
    let mut child = spanflow()
        .arg("run")
        .arg(&spec)
        .arg("--input")
        .arg(&fifo)
        .arg("--output")
        .arg(&output)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let half = blocks[blocks.len() / 2].start;
    writer.write_all(&bytes[..half]).unwrap();
    writer.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(300));
    // The next record read sees the stop.
    writer.write_all(&bytes[half..]).unwrap();
    drop(writer);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    // Before: killed by the signal, no summary, the output cut (or, now, never written).
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("Run finished.") && err.contains("interrupted=true"),
        "{err}"
    );
    assert!(err.contains("Interrupted"), "{err}");
    let text = std::fs::read_to_string(&output).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty(), "the rows before the signal are kept");
    assert!(text.ends_with('\n'));
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("a cut line `{line}`: {e}"));
    }
    assert!(
        lines.len() < events(true).len(),
        "stopped early: {} rows",
        lines.len()
    );
}

/// Runs `args` with stdout read by a reader that takes one line and goes away.
fn head_1(args: &[&str]) -> (Option<i32>, String) {
    let mut child = spanflow()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn commands_piped_into_head_exit_quietly() {
    let scratch = Scratch::new("broken-pipe");
    // Each writes far more than a pipe holds (64 KiB), so the writes after the reader left fail.
    let spec = cir_spec();
    let many: Vec<&str> = std::iter::repeat_n(spec.as_str(), 2000).collect();
    let states = every_event_spec(&scratch).display().to_string();
    let heartbeats = root("fixtures/generated/heartbeats-small.avro")
        .display()
        .to_string();
    let cases: Vec<Vec<&str>> = vec![
        [&["validate"][..], &many].concat(),
        [&["test"][..], &many[..500]].concat(),
        vec!["run", &states, "--input", &heartbeats],
    ];
    for args in cases {
        let (code, err) = head_1(&args);
        // Before: a panic (`failed printing to stdout: Broken pipe`), exit 101.
        assert_eq!(code, Some(141), "{}: {err}", args[0]);
        assert!(!err.contains("panicked"), "{}: {err}", args[0]);
        assert!(!err.contains("ERROR"), "{}: {err}", args[0]);
    }
}

#[test]
fn a_config_that_cannot_be_used_fails_a_file_run() {
    let scratch = Scratch::new("config");
    let heartbeats = root("fixtures/generated/heartbeats-small.avro")
        .display()
        .to_string();
    let spec = cir_spec();
    let missing = scratch.path().join("spanflow.yaml").display().to_string();
    let bad = scratch.write("bad.yaml", b"kafak:\n  brokers: a\n");
    let bad = bad.display().to_string();
    for (config, says) in [
        (missing.as_str(), "No such file"),
        (bad.as_str(), "unknown field `kafak`"),
    ] {
        // Before: ignored, the run went on without it.
        let out = run_cli(&["run", &spec, "--input", &heartbeats, "--config", config]);
        assert_eq!(out.status.code(), Some(1), "{config}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("runtime config {config}")) && err.contains(says),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    // Through the environment too, and a file that is not a config is not quoted.
    let out = spanflow()
        .args(["run", &spec, "--input", &heartbeats])
        .env("SPANFLOW_CONFIG", "/etc/passwd")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("runtime config /etc/passwd: line 1, column 1"),
        "{err}"
    );
    assert!(!err.contains("root:"), "the file is quoted: {err}");
}

#[test]
fn generate_writes_to_stdout_for_a_dash() {
    let scratch = Scratch::new("generate-dash");
    let file = scratch.path().join("g.avro");
    let args = ["generate", "--sessions", "2", "--events", "5", "--output"];
    let to_file = spanflow()
        .args(args)
        .arg(&file)
        .current_dir(scratch.path())
        .output()
        .unwrap();
    assert!(to_file.status.success());
    let to_stdout = spanflow()
        .args(args)
        .arg("-")
        .current_dir(scratch.path())
        .output()
        .unwrap();
    assert!(to_stdout.status.success(), "{}", stderr(&to_stdout));
    assert_eq!(to_stdout.stdout, std::fs::read(&file).unwrap());
    assert!(!scratch.path().join("-").exists(), "no file named `-`");
}
