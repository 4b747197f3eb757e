//! `spanflow trace`: one session's timelines, node by node, as a picture (HTML with inline
//! SVG, or bare SVG) or as text.
//!
//! [`record`] runs the spec over the file as `spanflow run` does and records what every node
//! emitted in each step of the chosen session; [`model`] turns that into lanes; [`text`],
//! [`svg`] and [`html`] draw them.

pub mod html;
pub mod model;
pub mod record;
pub mod svg;
pub mod text;

use crate::cli::TraceFormat;
use crate::lookup::Enricher;
use model::SessionTrace;
use spanflow_engine::Time;
use spanflow_operators::recorder::RecordedSession;
use spanflow_operators::Program;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// What to trace.
#[derive(Clone, Debug)]
pub struct TraceRequest<'a> {
    /// The input file.
    pub input: &'a Path,
    /// `--schemas`, for Confluent-framed input.
    pub schemas: Option<&'a Path>,
    /// The session key.
    pub key: &'a str,
    /// Draw from this time on (epoch ms).
    pub from: Option<Time>,
    /// Draw up to this time (epoch ms).
    pub to: Option<Time>,
    /// What to produce.
    pub format: TraceFormat,
    /// Stops the run when set (SIGINT/SIGTERM): no trace is drawn.
    pub stop: Option<&'a AtomicBool>,
}

/// Runs the spec over the file and renders the session as asked. Errors say what is wrong
/// and what would be valid.
pub fn trace(
    program: &Program,
    request: &TraceRequest<'_>,
    lookups: Option<&mut Enricher>,
) -> Result<String, String> {
    if let (Some(from), Some(to)) = (request.from, request.to) {
        if from > to {
            return Err(format!(
                "--from {from} is after --to {to}: give a window with --from at or before --to \
                 (both in epoch milliseconds, as rows' `time`)"
            ));
        }
    }
    let sessions = record::record_file(
        program,
        request.input,
        request.schemas,
        lookups,
        request.key,
        request.stop,
    )?;
    let session = choose(&sessions, request)?;
    if sessions.len() > 1 {
        tracing::info!(
            key = request.key,
            sessions = %ranges(&sessions),
            "The key has several sessions (the input has gaps of input.session_gap_secs); drawing the one {}: pick another with --from/--to.",
            if request.from.is_some() || request.to.is_some() { "the window overlaps" } else { "first" }
        );
    }
    let trace = SessionTrace::build(program, request.key, session, request.from, request.to);
    Ok(render(&trace, request.format))
}

/// The trace in `format`.
pub fn render(trace: &SessionTrace, format: TraceFormat) -> String {
    match format {
        TraceFormat::Text => text::render(trace),
        TraceFormat::Svg => svg::render(trace),
        TraceFormat::Html => html::render(trace, &svg::render(trace)),
    }
}

/// `[a, b] ms, [c, d] ms`.
fn ranges(sessions: &[RecordedSession]) -> String {
    sessions
        .iter()
        .map(|s| {
            format!(
                "[{}, {}] ms",
                s.start().unwrap_or_default(),
                s.last().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first session the window overlaps (the first session without a window).
fn choose<'s>(
    sessions: &'s [RecordedSession],
    request: &TraceRequest<'_>,
) -> Result<&'s RecordedSession, String> {
    let from = request.from.unwrap_or(Time::MIN);
    let to = request.to.unwrap_or(Time::MAX);
    sessions
        .iter()
        .find(|s| s.start().is_some_and(|a| a <= to) && s.last().is_some_and(|b| b >= from))
        .ok_or_else(|| {
            format!(
                "no session of `{}` overlaps --from {} --to {}: its sessions run {} (epoch ms); \
                 give a window that overlaps one",
                request.key,
                request.from.map_or("-".into(), |t| t.to_string()),
                request.to.map_or("-".into(), |t| t.to_string()),
                ranges(sessions)
            )
        })
}

/// Where the trace goes by default: `trace.html`, `trace.svg`, or stdout for text.
fn default_output(format: TraceFormat) -> PathBuf {
    match format {
        TraceFormat::Html => PathBuf::from("trace.html"),
        TraceFormat::Svg => PathBuf::from("trace.svg"),
        TraceFormat::Text => PathBuf::from("-"),
    }
}

/// `spanflow trace`: loads the spec, connects its lookups (if any) to `--config`'s cluster,
/// and writes the trace.
pub fn trace_command(
    spec: &Path,
    request: &TraceRequest<'_>,
    config: Option<&Path>,
    output: Option<&Path>,
) -> ExitCode {
    crate::app::with_valid_program(spec, |program| {
        let output = output.map_or_else(|| default_output(request.format), Path::to_path_buf);
        // SIGINT/SIGTERM end the wait for an unreachable lookup cluster.
        let stop = crate::stream_app::stop_on_signals("Stop requested: the trace is not written.");
        let request = TraceRequest {
            stop: Some(&stop),
            ..request.clone()
        };
        let result = crate::config::RuntimeConfig::load(config)
            .map_err(|e| e.to_string())
            .and_then(|config| crate::lookup::FileLookups::connect(program, &config, &stop))
            .and_then(|mut lookups| {
                trace(program, &request, lookups.as_mut().map(|l| &mut l.enricher))
            });
        let picture = match result {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        if output == Path::new("-") {
            return crate::app::with_stdout(|out| {
                out.write_all(picture.as_bytes())
                    .map(|()| ExitCode::SUCCESS)
            });
        }
        match std::fs::write(&output, picture) {
            Ok(()) => {
                tracing::info!(output = %output.display(), "Trace written.");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("cannot write the trace to {}: {e}", output.display());
                ExitCode::FAILURE
            }
        }
    })
}
