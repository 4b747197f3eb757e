//! Building the sinks a program's outputs name.

use super::{JsonLinesSink, KafkaSink, OutputsMeta, ScyllaSink, Sink};
use crate::config::RuntimeConfig;
use crate::registry::RegistryClient;
use spanflow_operators::spec::SinkSpec;
use spanflow_operators::Program;
use std::fmt::Display;
use std::future::Future;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `attempt` until it succeeds, fails in a way that retrying cannot fix, or `stop` is set:
/// a cluster that is not reachable yet at startup (restarting, still booting beside us in a
/// compose file) is waited for, with one log line per retry and backoff from 0.5 s doubling
/// to 10 s.
pub async fn retry_while_unreachable<T, E: Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    stop: &AtomicBool,
    is_retryable: impl Fn(&E) -> bool,
    mut attempt: impl FnMut() -> F,
) -> Result<T, E> {
    let mut delay = Duration::from_millis(500);
    let mut attempts = 0u32;
    loop {
        match attempt().await {
            Ok(t) => {
                if attempts > 0 {
                    tracing::info!(what, attempts, "Connected after retrying.");
                }
                return Ok(t);
            }
            Err(e) if is_retryable(&e) && !stop.load(Ordering::Relaxed) => {
                attempts += 1;
                tracing::warn!(
                    what,
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "Not reachable yet; retrying."
                );
                // Sleep in short steps so a stop request is seen promptly.
                let until = tokio::time::Instant::now() + delay;
                while tokio::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One sink per output, by output index; JSON-lines outputs write to `output` (`-` for stdout,
/// else appended to that file).
///
/// Outputs writing JSON lines share one writer, outputs writing to Kafka one producer, outputs
/// writing to ScyllaDB one session (connected on `runtime`, which must be the runtime that
/// runs the writes). A ScyllaDB cluster that is not reachable is waited for until `stop`
/// ([`retry_while_unreachable`]).
pub fn build_sinks(
    program: &Program,
    output: &Path,
    config: &RuntimeConfig,
    registry: Option<&RegistryClient>,
    runtime: &tokio::runtime::Runtime,
    stop: &AtomicBool,
) -> Result<Vec<Arc<Sink>>, String> {
    let meta = OutputsMeta::of(program);
    let mut json: Option<Arc<Sink>> = None;
    let mut kafka: Option<Arc<Sink>> = None;
    let mut scylla: Option<Arc<Sink>> = None;
    let mut sinks = Vec::new();
    for out in &program.outputs {
        let sink = match &out.sink {
            SinkSpec::Stdout => match &json {
                Some(s) => s.clone(),
                None => {
                    let (name, writer): (String, Box<dyn io::Write + Send>) =
                        if output == Path::new("-") {
                            ("stdout".into(), Box::new(BufWriter::new(io::stdout())))
                        } else {
                            let f = std::fs::OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(output)
                                .map_err(|e| format!("cannot open {}: {e}", output.display()))?;
                            (output.display().to_string(), Box::new(BufWriter::new(f)))
                        };
                    let s = Arc::new(Sink::JsonLines(JsonLinesSink::new(
                        name,
                        meta.clone(),
                        writer,
                    )));
                    json = Some(s.clone());
                    s
                }
            },
            SinkSpec::Kafka(k) => match &kafka {
                Some(s) => s.clone(),
                None => {
                    let Some(registry) = registry else {
                        return Err(format!(
                            "output `{}` writes Avro to topic `{}`: configure schema_registry (or SPANFLOW_SCHEMA_REGISTRY_URL) to register its schema",
                            out.name, k.topic
                        ));
                    };
                    let client = config.kafka.producer_config().map_err(|e| e.to_string())?;
                    let sink = KafkaSink::for_program(program, registry, &client)
                        .map_err(|e| e.to_string())?;
                    let s = Arc::new(Sink::Kafka(sink));
                    kafka = Some(s.clone());
                    s
                }
            },
            SinkSpec::Scylla(_) => match &scylla {
                Some(s) => s.clone(),
                None => {
                    // The session's connections live on the runtime that runs the writes.
                    let sink = runtime
                        .block_on(retry_while_unreachable(
                            "ScyllaDB sink",
                            stop,
                            |e: &super::ScyllaSinkError| e.is_retryable(),
                            || ScyllaSink::for_program(program, &config.scylla),
                        ))
                        .map_err(|e| e.to_string())?;
                    let s = Arc::new(Sink::Scylla(sink));
                    scylla = Some(s.clone());
                    s
                }
            },
        };
        sinks.push(sink);
    }
    Ok(sinks)
}
