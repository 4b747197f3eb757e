//! The subcommands, wired to the library. Exit codes: 0 success, 1 a failed run or test,
//! 78 an invalid spec (EX_CONFIG, as Vector uses), 2 bad command-line usage (clap).

use crate::cli::{Command, Dataset, FixtureFormat, GraphFormat, ScyllaCommand};
use crate::config::RuntimeConfig;
use crate::decode::files::{ReadError, RecordReader};
use crate::decode::{DecodedEvent, FieldPath, Projection};
use crate::lookup::Enricher;
use crate::output::JsonLines;
use crate::pipeline::SessionProcessor;
use crate::registry::RegistryClient;
use crate::sink::{build_sinks, RowWriter, SinkRow};
use crate::spec_file::{self, LoadedSpec};
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::spec::{BadRecordPolicy, SinkSpec};
use spanflow_operators::Program;
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

/// Exit code for an invalid spec.
pub const EXIT_INVALID_SPEC: u8 = 78;

/// Sets up structured logs on stderr (`RUST_LOG` filters; default `info`).
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        // Colour only for people: log files and pipes get plain text.
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Runs one subcommand.
pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Run {
            spec,
            input: Some(input),
            schemas,
            output,
            config,
            stdout_only,
        } => run_file(
            &spec,
            FileRun {
                input: &input,
                schemas: schemas.as_deref(),
                output: &output,
                config: config.as_deref(),
                stdout_only,
            },
        ),
        Command::Run {
            spec,
            input: None,
            schemas,
            output,
            config,
            stdout_only: _,
        } => crate::stream_app::run_stream(&spec, schemas.as_deref(), &output, config.as_deref()),
        Command::Validate {
            specs,
            deny_warnings,
            with_environment,
            config,
        } => validate(
            &specs,
            deny_warnings,
            with_environment.then_some(config.as_deref()),
        ),
        Command::Scylla {
            command:
                ScyllaCommand::Ddl {
                    spec,
                    apply,
                    replication,
                    config,
                },
        } => crate::scylla_admin::ddl_command(&spec, apply, &replication, config.as_deref()),
        Command::Explain { spec } => with_program(&spec, |p| print!("{}", p.explain())),
        Command::Graph { spec, format } => with_program(&spec, |p| {
            print!(
                "{}",
                match format {
                    GraphFormat::Mermaid => crate::graph::mermaid(p),
                    GraphFormat::Dot => crate::graph::dot(p),
                }
            )
        }),
        Command::Test { specs } => test(&specs),
        Command::Generate {
            dataset,
            sessions,
            events,
            seed,
            format,
            output,
        } => generate(dataset, sessions, events, seed, format, &output),
    }
}

fn with_program(spec: &Path, f: impl FnOnce(&Program)) -> ExitCode {
    with_valid_program(spec, |p| {
        f(p);
        ExitCode::SUCCESS
    })
}

/// Loads and checks `spec`, then runs `f` on it; an invalid spec prints its problems and
/// exits with [`EXIT_INVALID_SPEC`].
pub fn with_valid_program(spec: &Path, f: impl FnOnce(&Program) -> ExitCode) -> ExitCode {
    let loaded = spec_file::load(spec);
    match loaded.program_or_report() {
        Ok(p) => f(p),
        Err(report) => {
            eprint!("{report}");
            ExitCode::from(EXIT_INVALID_SPEC)
        }
    }
}

/// `validate`: one ✓/✗ line per file, then the problems; with `environment` (the runtime
/// config, `Some(None)` for the default), also one line per check against the running systems.
/// Exits 78 when a spec is invalid, 1 when only the environment does not fit.
fn validate(
    specs: &[std::path::PathBuf],
    deny_warnings: bool,
    environment: Option<Option<&Path>>,
) -> ExitCode {
    let config = match environment.map(RuntimeConfig::load).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut failed, mut environment_failed) = (0, 0);
    for path in specs {
        let loaded = spec_file::load(path);
        let (ok, report) = validate_report(&loaded, deny_warnings);
        println!("{} {}", if ok { "✓" } else { "✗" }, path.display());
        print!("{report}");
        failed += usize::from(!ok);
        if let (Some(config), Ok(program)) = (&config, &loaded.program) {
            let lookups = crate::lookup::check_environment(program, &config.scylla);
            for check in crate::scylla_admin::check_environment(program, config)
                .into_iter()
                .chain(lookups)
            {
                match check.result {
                    Ok(()) => println!("  ✓ {}", check.what),
                    Err(e) => {
                        environment_failed += 1;
                        println!("  ✗ {}: {e}", check.what);
                    }
                }
            }
        }
    }
    if failed > 0 {
        println!("{failed} of {} spec(s) invalid", specs.len());
        ExitCode::from(EXIT_INVALID_SPEC)
    } else if environment_failed > 0 {
        println!("{environment_failed} environment check(s) failed");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether a loaded spec passes, and the rendered problems and warnings.
pub fn validate_report(loaded: &LoadedSpec, deny_warnings: bool) -> (bool, String) {
    match &loaded.program {
        Ok(p) => {
            let severity = if deny_warnings { "error" } else { "warning" };
            (
                !deny_warnings || p.warnings.is_empty(),
                loaded.render(&p.warnings, severity),
            )
        }
        Err(problems) => (false, loaded.render(problems, "error")),
    }
}

fn test(specs: &[std::path::PathBuf]) -> ExitCode {
    let (mut passed, mut failed) = (0, 0);
    for path in specs {
        let loaded = spec_file::load(path);
        let program = match loaded.program_or_report() {
            Ok(p) => p,
            Err(report) => {
                println!("✗ {} (invalid spec)", path.display());
                print!("{report}");
                failed += 1;
                continue;
            }
        };
        if program.tests.is_empty() {
            println!("- {}: no tests", path.display());
        }
        for outcome in crate::spec_test::run_all(program) {
            match outcome.result {
                Ok(()) => {
                    passed += 1;
                    println!("✓ {}: {}", path.display(), outcome.name);
                }
                Err(diff) => {
                    failed += 1;
                    println!("✗ {}: {}\n  {diff}", path.display(), outcome.name);
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The fields the program's decoder must read.
pub fn projection_of(program: &Program) -> Result<Projection, String> {
    let path = |p: &str| {
        p.parse::<FieldPath>()
            .map_err(|e| format!("field path `{p}`: {e}"))
    };
    let mut projection = Projection::new(
        path(&program.input.session_key)?,
        path(&program.input.time)?,
    );
    projection.time_unit = program.input.time_unit;
    projection.sequence = program.input.sequence.as_deref().map(path).transpose()?;
    projection.record_name = program.input.record_name.clone();
    for (p, ty) in &program.input.fields {
        projection.push_field(path(p)?, *ty);
    }
    Ok(projection)
}

/// What a file run did.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Records decoded.
    pub records: u64,
    /// Records lost to bad input, by reason: every bad record, and every record of a corrupt
    /// block whose header gives their number. A loss of unknown size (a file cut short, an
    /// unreadable block header) counts as 1 here and in `unknown_losses`.
    pub bad_records: BTreeMap<&'static str, u64>,
    /// Read errors that lost an unknown number of records; when not 0, `bad_records` is a
    /// lower bound.
    pub unknown_losses: u64,
    /// Records of other types than `input.record_name`, skipped.
    pub other_records: u64,
    /// Pipeline counters.
    pub stats: crate::pipeline::Stats,
}

/// Runs `program` over an input file, writing JSON lines to `out` (whatever the outputs'
/// sinks) as the rows are produced: nothing is collected, so give a buffered `out`. A spec
/// with lookups needs [`run_program_on_file_with_lookups`].
pub fn run_program_on_file(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
    out: &mut dyn Write,
) -> Result<RunSummary, String> {
    run_program_on_file_with_lookups(program, input, schemas, out, None)
}

/// [`run_program_on_file`], joining the spec's lookups with `lookups` between decoding and
/// the sessions.
pub fn run_program_on_file_with_lookups(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
    out: &mut dyn Write,
    lookups: Option<&mut Enricher>,
) -> Result<RunSummary, String> {
    let mut writer = JsonLines::new(out);
    let summary = process_file(program, input, schemas, lookups, |session, row| {
        writer
            .write(program, session, row)
            .map_err(|e| format!("writing output: {e}"))
    });
    // Flushed on error too: the rows written before it stay in the output.
    let flushed = writer.flush().map_err(|e| format!("writing output: {e}"));
    let summary = summary?;
    flushed?;
    Ok(summary)
}

/// Runs `program` over an input file, each row going to its output's sink through `writer`
/// (which blocks the run while its write slots are full); returns once every row is written.
pub fn run_program_on_file_to_sinks(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
    writer: RowWriter<'_>,
    lookups: Option<&mut Enricher>,
) -> Result<(RunSummary, u64), String> {
    let summary = process_file(program, input, schemas, lookups, |session, row| {
        writer
            .write(SinkRow {
                session: session.into(),
                row: row.clone(),
            })
            .map_err(|e| e.to_string())
    })?;
    let written = writer.finish().map_err(|e| e.to_string())?;
    Ok((summary, written))
}

/// Decodes `input` and runs its events through `program`, handing each row to `write_row`;
/// stops at the first error `write_row` returns.
fn process_file(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
    mut lookups: Option<&mut Enricher>,
    mut write_row: impl FnMut(&str, &Row) -> Result<(), String>,
) -> Result<RunSummary, String> {
    crate::lookup::check_enricher(program, lookups.is_some())?;
    warn_file_run_dead_letters(program, input);
    let projection = projection_of(program)?;
    let mut reader = RecordReader::open(input, projection, schemas).map_err(|e| e.to_string())?;
    let mut processor = SessionProcessor::new(program);
    let write_error: std::cell::RefCell<Option<String>> = Default::default();
    let mut sink = |session: &str, row: &Row| {
        let mut slot = write_error.borrow_mut();
        if slot.is_none() {
            if let Err(e) = write_row(session, row) {
                *slot = Some(e);
            }
        }
    };
    let mut summary = RunSummary::default();
    let mut errors = BTreeMap::new();
    let mut event = DecodedEvent::default();
    let progress = progress_bar(input);
    while let Some(item) = reader.read_next(&mut event) {
        match item {
            Ok(_) => {
                summary.records += 1;
                // Lent, not taken: the decoder resets the record for the next one.
                let record = &mut event.record;
                if crate::lookup::join(lookups.as_deref_mut(), &event.session_key, record)? {
                    processor
                        .push(&event.session_key, &*record, &mut sink)
                        .map_err(|e| e.to_string())?;
                }
            }
            Err(e) => bad_record(program, &mut summary, &mut errors, e)?,
        }
        if summary.records % 65_536 == 0 {
            if let Some(p) = &progress {
                p.set_position(summary.records);
            }
        }
        if let Some(e) = write_error.borrow_mut().take() {
            return Err(e);
        }
    }
    processor.finish(&mut sink);
    let _ = sink;
    if let Some(e) = write_error.into_inner() {
        return Err(e);
    }
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    summary.stats = processor.stats().clone();
    Ok(summary)
}

/// A file run does not produce dead letters: its records do not come from a Kafka partition
/// (the `spanflow.source.*` headers would have nothing to say), re-driving a dead-letter topic
/// expects records of the stream, and the input file itself keeps every rejected record's
/// bytes at the position the log names. So `dead_letter` policies count and skip like `drop`
/// here, and this says so once, up front.
fn warn_file_run_dead_letters(program: &Program, input: &Path) {
    let Some(plan) = &program.input.dead_letter else {
        return;
    };
    let bad = program.input.on_bad_record == BadRecordPolicy::DeadLetter;
    let late = program.input.on_late_event == spanflow_operators::spec::LateEventPolicy::DeadLetter;
    tracing::warn!(
        topic = %plan.topic,
        input = %input.display(),
        bad_records = bad,
        late_events = late,
        "The spec sends rejected records to a dead-letter topic, but a file run produces no dead letters: they are counted and skipped like `drop`, and stay in the input file at the positions logged (run from Kafka to dead-letter them)."
    );
}

/// Applies the bad-record policy to a read error; `errors` counts errors by reason (for
/// throttling the log), while the summary counts the records they cost.
fn bad_record(
    program: &Program,
    summary: &mut RunSummary,
    errors: &mut BTreeMap<&'static str, u64>,
    e: ReadError,
) -> Result<(), String> {
    if e.is_fatal() {
        return Err(format!("{e}"));
    }
    if e.is_other_record_type() {
        summary.other_records += 1;
        return Ok(());
    }
    match program.input.on_bad_record {
        BadRecordPolicy::Fail => Err(format!(
            "bad record: {e} (input.on_bad_record is `fail`; set it to `drop` to skip bad records)"
        )),
        // A file run produces no dead letters (see `warn_file_run_dead_letters`).
        BadRecordPolicy::Drop | BadRecordPolicy::DeadLetter => {
            let lost = e.records_lost().unwrap_or_else(|| {
                summary.unknown_losses += 1;
                1
            });
            *summary.bad_records.entry(e.reason()).or_default() += lost;
            let seen = errors.entry(e.reason()).or_default();
            *seen += 1;
            // One line per reason for the first few, then only the summary: never one per event.
            if *seen <= 3 {
                tracing::warn!(reason = e.reason(), "Skipped a bad record: {e}.");
            }
            Ok(())
        }
    }
}

/// A spinner for inputs large enough to take a while; hidden when stderr is not a terminal.
fn progress_bar(input: &Path) -> Option<indicatif::ProgressBar> {
    let size = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    (size > 32 << 20).then(|| {
        let p = indicatif::ProgressBar::new_spinner();
        p.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} records {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        p
    })
}

/// What `run --input` was asked to do.
pub struct FileRun<'a> {
    /// The input file.
    pub input: &'a Path,
    /// `--schemas`.
    pub schemas: Option<&'a Path>,
    /// `--output`.
    pub output: &'a Path,
    /// `--config`.
    pub config: Option<&'a Path>,
    /// `--stdout-only`: every output as JSON lines, whatever its sink.
    pub stdout_only: bool,
}

fn run_file(spec: &Path, run: FileRun<'_>) -> ExitCode {
    with_valid_program(spec, |program| run_file_program(program, &run))
}

/// Whether every output of `program` writes JSON lines (no sink needs a connection).
fn json_only(program: &Program) -> bool {
    program
        .outputs
        .iter()
        .all(|o| matches!(o.sink, SinkSpec::Stdout))
}

fn run_file_program(program: &Program, run: &FileRun<'_>) -> ExitCode {
    let FileRun {
        input,
        schemas,
        output,
        ..
    } = *run;
    let result = if run.stdout_only || json_only(program) {
        let written = crate::lookup::FileLookups::connect(program, run.config).and_then(|mut l| {
            let lookups = l.as_mut().map(|l| &mut l.enricher);
            let result = if output == Path::new("-") {
                let mut out = BufWriter::new(io::stdout().lock());
                run_program_on_file_with_lookups(program, input, schemas, &mut out, lookups)
            } else {
                match std::fs::File::create(output) {
                    Ok(f) => {
                        let mut out = BufWriter::new(f);
                        run_program_on_file_with_lookups(program, input, schemas, &mut out, lookups)
                    }
                    Err(e) => Err(format!("cannot create {}: {e}", output.display())),
                }
            };
            if let Some(l) = &l {
                tracing::info!(stats = ?l.enricher.stats(), "Lookups.");
            }
            result
        });
        written.map(|s| {
            let rows = s.stats.rows;
            (s, rows)
        })
    } else {
        run_file_to_sinks(program, run)
    };
    match result {
        Ok((s, written)) => {
            let bad: u64 = s.bad_records.values().sum();
            tracing::info!(
                spec = %program.name,
                records = s.records,
                sessions = s.stats.sessions,
                rows = s.stats.rows,
                rows_written = written,
                bad_records = bad,
                late_dropped = s.stats.late_dropped,
                late_not_dead_lettered = s.stats.late_dead_lettered,
                "Run finished."
            );
            for (reason, n) in &s.bad_records {
                tracing::warn!(reason, count = n, "Bad records were skipped.");
            }
            if s.unknown_losses > 0 {
                tracing::warn!(
                    errors = s.unknown_losses,
                    "Some damage lost an unknown number of records; the counts are lower bounds."
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A file run whose outputs go to the sinks the spec names (ScyllaDB tables, Kafka topics,
/// JSON lines to `--output`), configured by the runtime config.
fn run_file_to_sinks(program: &Program, run: &FileRun<'_>) -> Result<(RunSummary, u64), String> {
    let config = RuntimeConfig::load(run.config).map_err(|e| e.to_string())?;
    if run.output != Path::new("-") {
        // The file is appended to by the shared JSON sink; a file run starts it afresh.
        std::fs::File::create(run.output)
            .map_err(|e| format!("cannot create {}: {e}", run.output.display()))?;
    }
    let registry = config
        .schema_registry
        .as_ref()
        .map(RegistryClient::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    let runtime = crate::kafka::io_runtime()?;
    // A file run has no stop signal to honour: it waits for an unreachable cluster until
    // interrupted.
    let wait = std::sync::atomic::AtomicBool::new(false);
    let mut lookups = crate::lookup::connect(program, &config.scylla, &runtime, &wait)?;
    let sinks = build_sinks(
        program,
        run.output,
        &config,
        registry.as_ref(),
        &runtime,
        &wait,
    )?;
    let writer = RowWriter::new(&runtime, program, sinks, config.delivery.max_in_flight);
    let result =
        run_program_on_file_to_sinks(program, run.input, run.schemas, writer, lookups.as_mut());
    if let Some(l) = &lookups {
        tracing::info!(stats = ?l.stats(), "Lookups.");
    }
    result
}

fn generate(
    dataset: Dataset,
    sessions: usize,
    events: usize,
    seed: u64,
    format: FixtureFormat,
    output: &Path,
) -> ExitCode {
    use crate::generate::{write_fixture, FixtureKind, GenConfig};
    let kind = match (dataset, format) {
        (Dataset::Heartbeats, FixtureFormat::Avro) => FixtureKind::HeartbeatsOcf,
        (Dataset::Heartbeats, FixtureFormat::Framed) => {
            FixtureKind::HeartbeatsFramed { schema_id: 1 }
        }
        (Dataset::Telemetry, FixtureFormat::Avro) => FixtureKind::TelemetryOcf,
        (Dataset::Telemetry, FixtureFormat::Framed) => {
            tracing::error!("Telemetry is only generated as an Avro container file.");
            return ExitCode::from(2);
        }
    };
    let config = GenConfig {
        seed,
        sessions,
        events_per_session: events,
        interleave: true,
        start_time: 1_700_000_000_000,
        events_per_step: 1,
    };
    match write_fixture(kind, output, &config) {
        Ok(n) => {
            tracing::info!(records = n, path = %output.display(), "Fixture written.");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
