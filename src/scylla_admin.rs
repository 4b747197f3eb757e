//! `spanflow scylla ddl` and `spanflow validate --with-environment`: a spec's ScyllaDB tables,
//! created or checked against the cluster in the runtime config.

use crate::app::with_valid_program;
use crate::config::RuntimeConfig;
use crate::sink::{
    check_table, connect_session, ddl, scylla_targets, OutputsMeta, ScyllaSink, TableLayout,
};
use spanflow_operators::Program;
use std::path::Path;
use std::process::ExitCode;

/// `spanflow scylla ddl SPEC [--apply]`: prints the statements (`;`-terminated, ready for
/// `cqlsh -f`), and with `apply` runs them on the cluster of `config`.
pub fn ddl_command(spec: &Path, apply: bool, replication: &str, config: Option<&Path>) -> ExitCode {
    with_valid_program(spec, |program| {
        match ddl_of(program, replication).and_then(|statements| {
            for s in &statements {
                println!("{s};");
            }
            if apply {
                apply_ddl(&statements, config)?;
                tracing::info!(statements = statements.len(), "Applied.");
            }
            Ok(())
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The DDL of `program`'s ScyllaDB outputs; an error when it has none.
pub fn ddl_of(program: &Program, replication: &str) -> Result<Vec<String>, String> {
    let targets = scylla_targets(program);
    if targets.is_empty() {
        return Err(format!(
            "spec `{}` has no output with `sink: {{ scylla: {{ keyspace: …, table: … }} }}`, so \
             it needs no tables",
            program.name
        ));
    }
    ddl(&OutputsMeta::of(program), &targets, replication).map_err(|e| e.to_string())
}

fn apply_ddl(statements: &[String], config: Option<&Path>) -> Result<(), String> {
    let config = RuntimeConfig::load(config).map_err(|e| e.to_string())?;
    let runtime = crate::kafka::io_runtime()?;
    runtime.block_on(async {
        let session = connect_session(&config.scylla)
            .await
            .map_err(|e| e.to_string())?;
        ScyllaSink::apply_ddl(&session, statements)
            .await
            .map_err(|e| e.to_string())
    })
}

/// One check of a spec against the running systems.
#[derive(Debug)]
pub struct EnvironmentCheck {
    /// What was checked, e.g. "output `cir` → scylla table analytics.cir".
    pub what: String,
    /// The outcome.
    pub result: Result<(), String>,
}

/// Checks `program`'s ScyllaDB tables on the cluster of `config`: each must exist with
/// columns of the types its output writes. No checks when it writes to no table.
pub fn check_environment(program: &Program, config: &RuntimeConfig) -> Vec<EnvironmentCheck> {
    let targets = scylla_targets(program);
    if targets.is_empty() {
        return Vec::new();
    }
    let meta = OutputsMeta::of(program);
    let mut layouts = Vec::new();
    let mut checks = Vec::new();
    for (output, spec) in &targets {
        match TableLayout::of(&meta, *output, spec) {
            Ok(l) => layouts.push(l),
            Err(e) => checks.push(EnvironmentCheck {
                what: format!("output `{}` → scylla table", meta.outputs[*output].0),
                result: Err(e.to_string()),
            }),
        }
    }
    let runtime = match crate::kafka::io_runtime() {
        Ok(r) => r,
        Err(e) => {
            checks.push(EnvironmentCheck {
                what: "scylla".into(),
                result: Err(e),
            });
            return checks;
        }
    };
    runtime.block_on(async {
        let session = match connect_session(&config.scylla).await {
            Ok(s) => s,
            Err(e) => {
                checks.push(EnvironmentCheck {
                    what: format!("scylla cluster {}", config.scylla.nodes.join(",")),
                    result: Err(e.to_string()),
                });
                return;
            }
        };
        for layout in &layouts {
            checks.push(EnvironmentCheck {
                what: format!(
                    "output `{}` → scylla table {}",
                    layout.output,
                    layout.qualified()
                ),
                result: check_table(&session, layout, config.scylla.using_timestamp)
                    .await
                    .map_err(|e| e.to_string()),
            });
        }
    });
    checks
}
