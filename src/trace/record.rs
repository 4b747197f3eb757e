//! Running a spec over a file as `spanflow run` does, recording the steps of one session key.

use crate::app::{process_file_in, RunOptions};
use crate::lookup::Enricher;
use crate::pipeline::SessionProcessor;
use spanflow_operators::recorder::{RecordedSession, Recorder};
use spanflow_operators::Program;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Runs `program` over `input` (decoding, ordering, lateness and session ends as in a file run;
/// rows are not written anywhere) and returns the sessions of `key`, in time order. A key the
/// file does not have is an error naming some keys it has. Setting `stop` ends the run
/// early, with an error.
pub fn record_file(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
    lookups: Option<&mut Enricher>,
    key: &str,
    stop: Option<&AtomicBool>,
) -> Result<Vec<RecordedSession>, String> {
    let mut processor = SessionProcessor::new(program);
    processor.record(Recorder::new(key));
    let options = RunOptions {
        enforce_budget: true,
        stop,
        ..RunOptions::default()
    };
    let summary = process_file_in(&mut processor, input, schemas, lookups, options, |_, _| {
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    if summary.interrupted {
        return Err(format!(
            "interrupted after {} records of {}: no trace was drawn",
            summary.records,
            input.display()
        ));
    }
    let recorder = processor
        .take_recorder()
        .expect("internal error: the recorder given to the processor is gone");
    if recorder.sessions().is_empty() {
        return Err(unknown_key(
            key,
            input,
            summary.stats.sessions,
            &recorder.other_keys(),
            recorder.closest_key(),
        ));
    }
    Ok(recorder.into_sessions())
}

/// `no session with key `x` in FILE (it has 20 sessions, e.g. `a`, `b`; did you mean `y`?)`.
fn unknown_key(
    key: &str,
    input: &Path,
    sessions: u64,
    others: &[&str],
    closest: Option<&str>,
) -> String {
    let mut m = format!("no session with key `{key}` in {}", input.display());
    if others.is_empty() {
        m.push_str(" (it has no sessions)");
        return m;
    }
    let list = others
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let s = if sessions == 1 { "" } else { "s" };
    m.push_str(&format!(" (it has {sessions} session{s}, e.g. {list}"));
    if let Some(c) = closest {
        m.push_str(&format!("; did you mean `{c}`?"));
    }
    m.push_str("): pass one of its keys to --session");
    m
}
