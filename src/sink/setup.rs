//! Building the sinks a program's outputs name.

use super::{JsonLinesSink, KafkaSink, OutputsMeta, ScyllaSink, Sink};
use crate::config::RuntimeConfig;
use crate::registry::RegistryClient;
use spanflow_operators::spec::SinkSpec;
use spanflow_operators::Program;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::Arc;

/// One sink per output, by output index; JSON-lines outputs write to `output` (`-` for stdout,
/// else appended to that file).
///
/// Outputs writing JSON lines share one writer, outputs writing to Kafka one producer, outputs
/// writing to ScyllaDB one session (connected on `runtime`, which must be the runtime that
/// runs the writes).
pub fn build_sinks(
    program: &Program,
    output: &Path,
    config: &RuntimeConfig,
    registry: Option<&RegistryClient>,
    runtime: &tokio::runtime::Runtime,
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
                        .block_on(ScyllaSink::for_program(program, &config.scylla))
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
