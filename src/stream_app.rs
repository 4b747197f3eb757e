//! `spanflow run SPEC` without `--input`: the spec's streaming source, its sinks, and the
//! signals that stop it.

use crate::app::{projection_of, with_valid_program};
use crate::config::RuntimeConfig;
use crate::decode::{DirFetcher, SchemaStore};
use crate::kafka::{self, StreamSetup};
use crate::metrics::{self, Metrics};
use crate::registry::RegistryClient;
use crate::sink::build_sinks;
use spanflow_operators::spec::SourceSpec;
use spanflow_operators::Program;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Runs the spec's streaming source until SIGINT/SIGTERM (exit 0 after draining) or a fatal
/// error (exit 1).
pub fn run_stream(
    spec: &Path,
    schemas: Option<&Path>,
    output: &Path,
    config: Option<&Path>,
) -> ExitCode {
    with_valid_program(spec, |program| {
        stream_program(program, schemas, output, config)
    })
}

fn stream_program(
    program: &Program,
    schemas: Option<&Path>,
    output: &Path,
    config: Option<&Path>,
) -> ExitCode {
    let stop = stop_on_signals("Stop requested: draining writes, committing, then exiting.");
    match start(program, schemas, output, config, stop) {
        Ok(summary) => {
            log_stop_summary(&summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The stop summary: totals on one line, then one line per reason of the records skipped or
/// set aside, as a file run says them.
fn log_stop_summary(summary: &kafka::StreamSummary) {
    tracing::info!(
        messages = summary.messages,
        rows_written = summary.rows_written,
        sessions = summary.sessions,
        late_dropped = summary.late_dropped,
        lookup_dropped = summary.lookup_dropped,
        replay_skipped = summary.replay_skipped,
        bad_records = summary.bad_records.values().sum::<u64>(),
        dead_lettered = summary.dead_lettered.values().sum::<u64>(),
        "Stopped after draining and committing."
    );
    if summary.split_session_keys > 0 {
        tracing::warn!(
            count = summary.split_session_keys,
            "Sessions were split over partitions (their rows are wrong): produce with the session key as the message key."
        );
    }
    for (reason, count) in &summary.bad_records {
        tracing::warn!(reason, count, "Bad records were skipped.");
    }
    for (reason, count) in &summary.dead_lettered {
        tracing::info!(reason, count, "Records sent to the dead-letter topic.");
    }
}

fn start(
    program: &Program,
    schemas: Option<&Path>,
    output: &Path,
    config: Option<&Path>,
    stop: Arc<AtomicBool>,
) -> Result<kafka::StreamSummary, String> {
    let Some(SourceSpec::Kafka(source)) = &program.input.source else {
        return Err(format!(
            "spec `{}` has no input.source: give an input file with --input, or add `input.source.kafka` to the spec",
            program.name
        ));
    };
    let config = RuntimeConfig::load(config).map_err(|e| e.to_string())?;
    let projection = projection_of(program)?;
    let registry = config
        .schema_registry
        .as_ref()
        .map(RegistryClient::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    let store = match (&registry, schemas) {
        (Some(client), _) => SchemaStore::new(projection, client.clone()),
        (None, Some(dir)) => SchemaStore::new(
            projection,
            DirFetcher::new(dir).map_err(|e| e.to_string())?,
        ),
        (None, None) => {
            return Err("no schemas: configure schema_registry (or SPANFLOW_SCHEMA_REGISTRY_URL), or give --schemas DIR with <id>.avsc files".into())
        }
    };
    let runtime = kafka::io_runtime()?;
    let metrics = Arc::new(Metrics::new());
    // Served from the start, so probes see a run that waits for its clusters as not ready.
    if let Some(listen) = config.metrics.listen {
        metrics::server::serve(listen, metrics.clone(), &runtime)?;
    }
    let sinks = build_sinks(program, output, &config, registry.as_ref(), &runtime, &stop)?;
    kafka::run(StreamSetup {
        program,
        source,
        config: &config,
        schemas: store,
        sinks,
        stop,
        runtime: &runtime,
        metrics,
    })
}

/// SIGINT or SIGTERM asks for a graceful stop (the flag returned is set, and `what` logged); a
/// second one exits at once (130). Streams and file runs both stop this way. Returns once the
/// handlers are installed, so no signal after it kills the process without its summary.
pub(crate) fn stop_on_signals(what: &'static str) -> Arc<AtomicBool> {
    use tokio::signal::unix::{signal, SignalKind};
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let (installed, wait) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("spanflow-signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let (Ok(mut int), Ok(mut term)) = (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) else {
                    return;
                };
                let _ = installed.send(());
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    if flag.swap(true, Ordering::SeqCst) {
                        tracing::warn!("Second stop signal: exiting now without draining.");
                        std::process::exit(130);
                    }
                    tracing::info!("{what}");
                }
            });
        });
    match spawned {
        Ok(_) => {
            if wait
                .recv_timeout(std::time::Duration::from_secs(5))
                .is_err()
            {
                tracing::warn!("Cannot watch for stop signals.");
            }
        }
        Err(e) => tracing::warn!(error = %e, "Cannot watch for stop signals."),
    }
    stop
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_capture::logged;

    #[test]
    fn the_stop_summary_counts_bad_records_by_reason() {
        let mut summary = kafka::StreamSummary::default();
        summary.bad_records.insert("bad_magic", 7);
        summary.bad_records.insert("unknown_schema_id", 2);
        summary.dead_lettered.insert("late_event", 1);
        let log = logged(|| log_stop_summary(&summary));
        assert!(log.contains("bad_records=9"), "{log}");
        for line in [
            "reason=\"bad_magic\" count=7",
            "reason=\"unknown_schema_id\" count=2",
        ] {
            assert!(
                log.lines()
                    .any(|l| l.contains("Bad records were skipped") && l.contains(line)),
                "{line} in:\n{log}"
            );
        }
        assert!(log.contains("reason=\"late_event\" count=1"), "{log}");
    }
}
