//! W5's peers: the CIR query in DuckDB SQL and in Polars (`benches/peers/cir_peer.py`), the
//! Python environment they run in, and comparing their rows with spanflow's.
#![allow(dead_code)] // each bench target uses its own part of the support modules

use super::workload::{root, target_dir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The peers' packages, pinned so that reruns compare the same versions.
pub const PEER_PACKAGES: [&str; 4] = [
    "duckdb==2.0.1",
    "polars==2.1.0",
    "pyarrow==26.0.1",
    "fastavro==1.13.1",
];

/// The peer script.
pub fn peer_script() -> PathBuf {
    root().join("benches/peers/cir_peer.py")
}

/// The Python of the peers: `<target>/bench-venv`, created and filled with [`PEER_PACKAGES`]
/// from PyPI when it is missing or lacks them. Returns the interpreter and the versions, or
/// why it cannot be had.
pub fn peer_python() -> Result<(PathBuf, String), String> {
    let venv = target_dir().join("bench-venv");
    let python = venv.join("bin/python");
    let probe = |python: &Path| {
        ok_stdout(Command::new(python).args([
            "-c",
            "import duckdb, polars, pyarrow, fastavro, sys; \
             print(f'DuckDB {duckdb.__version__}, Polars {polars.__version__}, \
             pyarrow {pyarrow.__version__}, fastavro {fastavro.__version__}, \
             Python {sys.version.split()[0]}')",
        ]))
    };
    if let Ok(versions) = probe(&python) {
        return Ok((python, versions));
    }
    if !python.exists() {
        eprintln!("W5: creating {}", venv.display());
        ok_stdout(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .map_err(|e| format!("`python3 -m venv` failed: {e}"))?;
    }
    eprintln!("W5: installing {} from PyPI", PEER_PACKAGES.join(" "));
    ok_stdout(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PEER_PACKAGES),
    )
    .map_err(|e| format!("`pip install` failed: {e}"))?;
    probe(&python)
        .map(|versions| (python.clone(), versions))
        .map_err(|e| format!("the installed packages do not import: {e}"))
}

/// Runs `cmd`; its stdout when it succeeds, else its status and the end of its stderr.
pub fn ok_stdout(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(failure(&out))
    }
}

/// The status of a failed `out` and the last lines of its stderr.
pub fn failure(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("{}: {}", out.status, tail.join(" / "))
}

/// CPU seconds (user + system) of this process's waited-for children so far
/// (`/proc/self/stat` cutime + cstime, in clock ticks of 10 ms).
pub fn children_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    // After the command's `)`: state is field 3, cutime 16 and cstime 17.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(13), ticks(14)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// One CIR row: the time (epoch ms) and the two columns (`None` for null).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CirRow {
    /// The row's time.
    pub time: i64,
    /// `cir_secs_cdn1`.
    pub cdn1: Option<f64>,
    /// `cir_secs_all_cdns`.
    pub all: Option<f64>,
}

/// The `cir_per_session` rows of a JSON-lines file, by session.
pub fn read_cir_rows(path: &Path) -> Result<BTreeMap<String, CirRow>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |what: &str| format!("{}:{}: {what}: {line}", path.display(), n + 1);
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        if v["output"] != "cir_per_session" {
            return Err(bad("not a cir_per_session row"));
        }
        let session = v["session"].as_str().ok_or_else(|| bad("no session"))?;
        let time = v["time"].as_i64().ok_or_else(|| bad("no integer time"))?;
        let value = |c: &str| match &v[c] {
            serde_json::Value::Null => Ok(None),
            x => x.as_f64().map(Some).ok_or_else(|| bad(c)),
        };
        let row = CirRow {
            time,
            cdn1: value("cir_secs_cdn1")?,
            all: value("cir_secs_all_cdns")?,
        };
        if rows.insert(session.to_owned(), row).is_some() {
            return Err(bad("a second row for the session"));
        }
    }
    Ok(rows)
}

/// How `theirs` differs from `ours`: the number of sessions whose rows differ (or that only one
/// side has), and the first of them. Times must be equal, values within `1e-6`.
pub fn compare_cir_rows(
    ours: &BTreeMap<String, CirRow>,
    theirs: &BTreeMap<String, CirRow>,
) -> (usize, Option<String>) {
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6,
        (None, None) => true,
        _ => false,
    };
    let same =
        |a: &CirRow, b: &CirRow| a.time == b.time && close(a.cdn1, b.cdn1) && close(a.all, b.all);
    let mut differ = 0;
    let mut first = None;
    let sessions: std::collections::BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    for s in sessions {
        let (a, b) = (ours.get(s), theirs.get(s));
        if let (Some(a), Some(b)) = (a, b) {
            if same(a, b) {
                continue;
            }
        }
        differ += 1;
        first.get_or_insert_with(|| format!("session {s}: spanflow {a:?}, peer {b:?}"));
    }
    (differ, first)
}
