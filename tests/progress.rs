//! The progress bar of file runs, as a person sees it: in a terminal (tmux) it shows the bytes
//! read of the file's size, records per second and the time left; with stderr not a terminal
//! there is no trace of it.
//!
//! Both runs set `SPANFLOW_TEST_PROGRESS_PACE_MS`, which draws the bar from the start and
//! slows each update, so the tmux test sees it mid-run on any machine. The tmux test prints
//! `skipped: tmux not installed` without tmux (`apt-get install tmux`); CI sets
//! `SPANFLOW_REQUIRE_TMUX=1` to make that a failure.

use crate::specs::repo_root;
use spanflow::generate::{write_fixture, FixtureKind, GenConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CIR: &str = "dag-specs/video/connection_induced_rebuffering.yaml";
const PACE_ENV: &str = spanflow::progress::TEST_PACE_ENV;

/// A heartbeats file of 100 000 records (a few MB: many read buffers), in a temporary folder.
fn large_input() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heartbeats.avro");
    let config = GenConfig {
        seed: 3,
        sessions: 200,
        events_per_session: 500,
        interleave: true,
        start_time: 1_700_000_000_000,
        events_per_step: 1,
    };
    write_fixture(FixtureKind::HeartbeatsOcf, &path, &config).unwrap();
    (dir, path)
}

fn tmux_available() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("SPANFLOW_REQUIRE_TMUX").is_none(),
            "SPANFLOW_REQUIRE_TMUX is set but tmux is not installed (apt-get install tmux)"
        );
        println!("skipped: tmux not installed");
    }
    found
}

/// A tmux server of this test's own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "run"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// The bar's line mid-run, `<bar> 1.23 MiB/4.56 MiB 2.00 MiB/s  8,192 records, 4,000/s  ETA 2s`,
/// with the bytes read and the total: the first line with an ETA whose bytes read are not yet
/// the total.
fn mid_run_bar(screen: &str) -> Option<(String, String, String)> {
    for line in screen.lines().filter(|l| l.contains("ETA")) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        for k in 1..tokens.len().saturating_sub(1) {
            let Some((unit, total)) = tokens[k].split_once('/') else {
                continue;
            };
            if unit.ends_with('B') && total.parse::<f64>().is_ok() {
                let read = format!("{} {unit}", tokens[k - 1]);
                let total = format!("{total} {}", tokens[k + 1]);
                if read != total {
                    return Some((line.to_owned(), read, total));
                }
            }
        }
    }
    None
}

#[test]
fn in_a_terminal_the_bar_shows_bytes_of_the_size_a_rate_and_an_eta() {
    if !tmux_available() {
        return;
    }
    let (_dir, input) = large_input();
    let size = std::fs::metadata(&input).unwrap().len();
    let tmux = Tmux {
        socket: format!("spanflow-progress-{}", std::process::id()),
    };
    let command = format!(
        "cd {} && {PACE_ENV}=100 RUST_LOG=warn {} run {CIR} --input {} > /dev/null; sleep 60",
        shell_quote(repo_root()),
        shell_quote(Path::new(env!("CARGO_BIN_EXE_spanflow"))),
        shell_quote(&input),
    );
    let started = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            "run",
            "-x",
            "120",
            "-y",
            "10",
            &command,
        ])
        .status()
        .unwrap();
    assert!(started.success(), "tmux new-session failed");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (line, _read, total) = loop {
        let screen = tmux.screen();
        if let Some(found) = mid_run_bar(&screen) {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no progress bar mid-run within 60 s; the screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        total,
        indicatif::HumanBytes(size).to_string(),
        "not the file's size: {line}"
    );
    assert!(line.contains("iB/s "), "no byte rate: {line}");
    assert!(line.contains(" records, "), "no record count: {line}");
    assert!(
        line.contains("/s  ETA "),
        "no record rate before the ETA: {line}"
    );
    let eta = line.rsplit("ETA ").next().unwrap();
    assert!(
        eta.trim().ends_with('s') || eta.trim().ends_with('m') || eta.trim().ends_with('h'),
        "no time left: {line}"
    );
}

#[test]
fn with_stderr_not_a_terminal_nothing_of_the_bar_is_written() {
    let (_dir, input) = large_input();
    let out = Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .current_dir(repo_root())
        .env_remove("SPANFLOW_CONFIG")
        .env(PACE_ENV, "1")
        .env("RUST_LOG", "info")
        .args(["run", CIR, "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    // The log lines are there, and nothing else: no bar, no carriage return, no escape code.
    assert!(stderr.contains("Run finished."), "{stderr}");
    for trace in ["ETA", "records, ", "MiB", "\r", "\u{1b}"] {
        assert!(!stderr.contains(trace), "{trace:?} in stderr:\n{stderr}");
    }
}
