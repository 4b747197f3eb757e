//! The Scala baselines (`benches/scala/`): the input file they read, the row checksum both sides
//! compute, and running them.
#![allow(dead_code)] // each bench target uses its own part of the support modules

use spanflow::generate::Heartbeat;
use spanflow_engine::Scalar;
use spanflow_operators::evaluate_at::Row;
use std::fmt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Writes `events` (in stream order) as the TSV the Scala baselines read: a header line
/// `sessionId\ttimestamp\tseq\tplayerState\tuserAction\tcdn\tnetwork`, then one line per event;
/// an empty field is null.
pub fn write_events_tsv(events: &[Heartbeat], path: &Path) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "sessionId\ttimestamp\tseq\tplayerState\tuserAction\tcdn\tnetwork"
    )?;
    for e in events {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.session_id,
            e.timestamp,
            e.seq,
            e.player_state.as_deref().unwrap_or(""),
            e.user_action.map_or("", |a| a.symbol()),
            e.cdn.as_deref().unwrap_or(""),
            e.network.as_deref().unwrap_or(""),
        )?;
    }
    out.flush()
}

/// An order-independent checksum of output rows, computed the same way by the Scala baselines:
/// the number of rows, of null column values, the wrapping sum of row times (ms), and the
/// wrapping sum of `round(v * 1000)` (half away from zero) over non-null numeric values, booleans
/// counting as 1 and 0. String values only count as non-null.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Rows.
    pub rows: u64,
    /// Null column values.
    pub nulls: u64,
    /// Wrapping sum of row times.
    pub time: i64,
    /// Wrapping sum of the numeric values in thousandths.
    pub value: i64,
}

impl Checksum {
    /// Adds one row.
    pub fn add(&mut self, row: &Row) {
        self.rows += 1;
        self.time = self.time.wrapping_add(row.time);
        for v in &row.values {
            match v {
                None => self.nulls += 1,
                Some(Scalar::F64(x)) => {
                    self.value = self.value.wrapping_add((x * 1000.0).round() as i64)
                }
                Some(Scalar::Bool(b)) => {
                    self.value = self.value.wrapping_add(if *b { 1000 } else { 0 })
                }
                Some(Scalar::Str(_)) => {}
            }
        }
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rows={};nulls={};time={};value={}",
            self.rows, self.nulls, self.time, self.value
        )
    }
}

/// One line of a Scala baseline's report.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalaRun {
    /// `scala-seed` or `scala-tuned`.
    pub implementation: String,
    /// `cir` or `play_time`.
    pub spec: String,
    /// Sessions in the input.
    pub sessions: u64,
    /// Events in the input.
    pub events: u64,
    /// Timed iterations.
    pub iterations: u64,
    /// Median time per event of the timed iterations (grouping, DAG and rows; not parsing).
    pub ns_per_event: f64,
    /// [`Checksum`] of the rows, as text.
    pub checksum: String,
}

/// The script that compiles (when its sources changed) and runs the baselines.
fn run_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scala/run.sh")
}

/// Compiles the Scala baselines if their sources changed (installing Debian's `scala` when
/// `scalac` is missing) and runs both on `tsv`, timing `iterations` iterations after a warm-up
/// (`SCALA_WARMUP`, default 5). The script's progress goes to stderr.
pub fn run_scala(tsv: &Path, iterations: u32) -> Result<Vec<ScalaRun>, String> {
    let script = run_script();
    let output = Command::new("bash")
        .arg(&script)
        .arg(tsv)
        .arg(iterations.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}); its output:\n{stdout}",
            script.display(),
            output.status
        ));
    }
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<ScalaRun, String> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("bad line from run.sh `{line}`: {e}"))?;
    let text = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("`{k}` missing in `{line}`"))
    };
    let int = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("`{k}` missing in `{line}`"))
    };
    Ok(ScalaRun {
        implementation: text("impl")?,
        spec: text("spec")?,
        sessions: int("sessions")?,
        events: int("events")?,
        iterations: int("iterations")?,
        ns_per_event: v
            .get("ns_per_event")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("`ns_per_event` missing in `{line}`"))?,
        checksum: text("checksum")?,
    })
}
