//! The subcommands, wired to the library. Exit codes: 0 success, 1 a failed run or test,
//! 78 an invalid spec (EX_CONFIG, as Vector uses), 2 bad command-line usage (clap).

use crate::cli::{
    Command, Dataset, FixtureFormat, GraphFormat, InputFormat, RowFormat, ScyllaCommand,
};
use crate::config::RuntimeConfig;
use crate::decode::files::{FileFormat, FileRecords, ReadError, RecordReader};
use crate::decode::{DecodedEvent, FieldPath, Projection, ReaderSchema};
use crate::lookup::Enricher;
use crate::output::JsonLines;
use crate::pipeline::SessionProcessor;
use crate::registry::RegistryClient;
use crate::run_output::RunOutput;
use crate::sink::{build_sinks, RowWriter, SinkRow};
use crate::spec_file::{self, LoadedSpec};
use crate::table_output::TableFormat;
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::spec::{BadRecordPolicy, SinkSpec};
use spanflow_operators::Program;
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Exit code for an invalid spec.
pub const EXIT_INVALID_SPEC: u8 = 78;

/// Exit code of a file run stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Exit code when the reader of stdout went away (`spanflow ... | head -1`): what a shell
/// reports for a tool that SIGPIPE ended (128 + 13), without a message.
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// Sets up structured logs on stderr (`RUST_LOG` filters; default `info`).
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Lifts the progress bar of a file run for each line.
        .with_writer(crate::progress::log_writer)
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
            input_format,
            format,
            schemas,
            output,
            config,
            stdout_only,
            sort,
            stats,
        } => run_file(
            &spec,
            FileRun {
                input: &input,
                input_format: input_format.map(file_format),
                table: format.and_then(table_format),
                schemas: schemas.as_deref(),
                output: &output,
                config: config.as_deref(),
                stdout_only,
                sort,
                stats,
            },
        ),
        Command::Run {
            spec,
            input: None,
            schemas,
            output,
            config,
            ..
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
        Command::Explain { spec } => with_program(&spec, |p| p.explain()),
        Command::Graph { spec, format } => with_program(&spec, |p| match format {
            GraphFormat::Mermaid => crate::graph::mermaid(p),
            GraphFormat::Dot => crate::graph::dot(p),
        }),
        Command::Trace {
            spec,
            input,
            session,
            schemas,
            config,
            output,
            format,
            from,
            to,
        } => crate::trace::trace_command(
            &spec,
            &crate::trace::TraceRequest {
                input: &input,
                schemas: schemas.as_deref(),
                key: &session,
                from,
                to,
                format,
                stop: None,
            },
            config.as_deref(),
            output.as_deref(),
        ),
        Command::Test { specs } => test(&specs),
        Command::Schema => with_stdout(|out| {
            out.write_all(spanflow_operators::schema::spec_schema_text().as_bytes())
                .map(|()| ExitCode::SUCCESS)
        }),
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

fn with_program(spec: &Path, f: impl FnOnce(&Program) -> String) -> ExitCode {
    with_valid_program(spec, |p| {
        with_stdout(|out| out.write_all(f(p).as_bytes()).map(|()| ExitCode::SUCCESS))
    })
}

/// Runs `f` writing to stdout: a reader that went away (`spanflow validate ... | head -1`)
/// ends the command quietly with [`EXIT_BROKEN_PIPE`], as SIGPIPE ends other Unix tools.
pub fn with_stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<ExitCode>) -> ExitCode {
    let mut out = io::stdout().lock();
    match f(&mut out).and_then(|code| out.flush().map(|()| code)) {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(e) => {
            tracing::error!("cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
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
    with_stdout(|out| {
        let (mut failed, mut environment_failed) = (0, 0);
        for path in specs {
            let loaded = spec_file::load(path);
            let (ok, report) = validate_report(&loaded, deny_warnings);
            writeln!(out, "{} {}", if ok { "✓" } else { "✗" }, path.display())?;
            write!(out, "{report}")?;
            failed += usize::from(!ok);
            if let (Some(config), Ok(program)) = (&config, &loaded.program) {
                let lookups = crate::lookup::check_environment(program, &config.scylla);
                for check in crate::scylla_admin::check_environment(program, config)
                    .into_iter()
                    .chain(lookups)
                {
                    match check.result {
                        Ok(()) => writeln!(out, "  ✓ {}", check.what)?,
                        Err(e) => {
                            environment_failed += 1;
                            writeln!(out, "  ✗ {}: {e}", check.what)?;
                        }
                    }
                }
            }
        }
        Ok(if failed > 0 {
            writeln!(out, "{failed} of {} spec(s) invalid", specs.len())?;
            ExitCode::from(EXIT_INVALID_SPEC)
        } else if environment_failed > 0 {
            writeln!(out, "{environment_failed} environment check(s) failed")?;
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
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
    with_stdout(|out| {
        let (mut passed, mut failed) = (0, 0);
        for path in specs {
            let loaded = spec_file::load(path);
            let program = match loaded.program_or_report() {
                Ok(p) => p,
                Err(report) => {
                    writeln!(out, "✗ {} (invalid spec)", path.display())?;
                    write!(out, "{report}")?;
                    failed += 1;
                    continue;
                }
            };
            if program.tests.is_empty() {
                writeln!(out, "- {}: no tests", path.display())?;
            }
            for outcome in crate::spec_test::run_all(program) {
                match outcome.result {
                    Ok(()) => {
                        passed += 1;
                        writeln!(out, "✓ {}: {}", path.display(), outcome.name)?;
                    }
                    Err(diff) => {
                        failed += 1;
                        writeln!(out, "✗ {}: {}\n  {diff}", path.display(), outcome.name)?;
                    }
                }
            }
        }
        writeln!(out, "{passed} passed, {failed} failed")?;
        Ok(if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
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
    if let Some(json) = &program.input.reader_schema {
        let reader = ReaderSchema::parse(json, "input.schema").map_err(|e| e.to_string())?;
        projection.reader = Some(Arc::new(reader));
    }
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
    /// The run was stopped by a signal before the end of the input: the rows are those of
    /// the records read until then, and the sessions still open were not evaluated.
    pub interrupted: bool,
    /// Pipeline counters.
    pub stats: crate::pipeline::Stats,
    /// What each node did, with [`RunOptions::node_stats`].
    pub node_stats: Option<spanflow_engine::InterpreterStats>,
}

impl RunSummary {
    /// Records lost to bad input (a lower bound when `unknown_losses` is not 0).
    pub fn bad(&self) -> u64 {
        self.bad_records.values().sum()
    }
}

/// How a file run goes, besides the spec: [`RunOptions::default`] reads the file in order to
/// its end.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions<'a> {
    /// Order the events by time (then sequence) before evaluating them, so an out-of-order
    /// file loses no late events; holds every decoded event in memory until the end of the
    /// file (`run --sort`).
    pub sort: bool,
    /// Stops the run when set (SIGINT/SIGTERM): the records read so far are evaluated, the
    /// output flushed, and the summary says `interrupted`.
    pub stop: Option<&'a AtomicBool>,
    /// Fail the run when bad input exceeds `input.max_bad_records` or `input.max_bad_ratio`,
    /// or when no record could be decoded at all (`spanflow run` sets it). Without it, a run
    /// with `on_bad_record: drop` only counts its losses in the summary.
    pub enforce_budget: bool,
    /// The input's format (`--input-format`); `None`: by the file's extension, else its first
    /// bytes (see [`RecordReader::open_as`]).
    pub input_format: Option<FileFormat>,
    /// Count each node's steps and outputs into [`RunSummary::node_stats`] (`run --stats`);
    /// off, the interpreter counts nothing.
    pub node_stats: bool,
}

/// Why a file run stopped early.
#[derive(Debug)]
pub enum RunError {
    /// The run failed; the message says what, where, and what would be valid.
    Failed(String),
    /// The reader of stdout went away (`spanflow run ... | head`): not an error of the run.
    BrokenPipe,
}

impl From<String> for RunError {
    fn from(e: String) -> Self {
        RunError::Failed(e)
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Failed(e) => f.write_str(e),
            RunError::BrokenPipe => f.write_str("writing output: the reader closed the pipe"),
        }
    }
}

/// An error writing JSON lines: a closed pipe, or a failure.
fn write_error(e: io::Error) -> RunError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        RunError::BrokenPipe
    } else {
        RunError::Failed(format!("writing output: {e}"))
    }
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
    run_program_on_file_with(program, input, schemas, out, lookups, RunOptions::default())
        .map_err(|e| e.to_string())
}

/// [`run_program_on_file_with_lookups`] with [`RunOptions`].
pub fn run_program_on_file_with(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
    out: &mut dyn Write,
    lookups: Option<&mut Enricher>,
    options: RunOptions<'_>,
) -> Result<RunSummary, RunError> {
    let mut writer = JsonLines::new(out);
    let summary = process_file(program, input, schemas, lookups, options, |session, row| {
        writer.write(program, session, row).map_err(write_error)
    });
    // Flushed on error too: the rows written before it stay in the output.
    let flushed = writer.flush().map_err(write_error);
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
    run_program_on_file_to_sinks_with(
        program,
        input,
        schemas,
        writer,
        lookups,
        RunOptions::default(),
    )
}

/// [`run_program_on_file_to_sinks`] with [`RunOptions`].
pub fn run_program_on_file_to_sinks_with(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
    writer: RowWriter<'_>,
    lookups: Option<&mut Enricher>,
    options: RunOptions<'_>,
) -> Result<(RunSummary, u64), String> {
    let summary = process_file(program, input, schemas, lookups, options, |session, row| {
        writer
            .write(SinkRow {
                session: session.into(),
                row: row.clone(),
            })
            .map_err(|e| RunError::Failed(e.to_string()))
    });
    // Every row handed over is written (or the sinks fail), whether the run ended or stopped.
    let written = writer.finish().map_err(|e| e.to_string());
    let summary = summary.map_err(|e| e.to_string())?;
    Ok((summary, written?))
}

/// The bad-record budget of a file run and the first problem found, for the message that
/// stops it.
struct Budget<'p> {
    enforce: bool,
    program: &'p Program,
    input: &'p Path,
    /// The input's format, for what a file that read nothing should hold.
    format: FileFormat,
    /// Read errors by reason (for throttling the log); the summary counts the records lost.
    errors: BTreeMap<&'static str, u64>,
    first: Option<String>,
}

impl Budget<'_> {
    /// Applies the bad-record policy and the `max_bad_records` limit to a read error.
    fn bad_record(&mut self, summary: &mut RunSummary, e: ReadError) -> Result<(), String> {
        if e.is_fatal() {
            return Err(format!("{e}"));
        }
        if e.is_other_record_type() {
            summary.other_records += 1;
            return Ok(());
        }
        match self.program.input.on_bad_record {
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
                let seen = self.errors.entry(e.reason()).or_default();
                *seen += 1;
                // The first of each reason, then at powers of two: never one line per record.
                if seen.is_power_of_two() {
                    tracing::warn!(reason = e.reason(), count = *seen, "Skipped a bad record: {e}.");
                }
                if self.first.is_none() {
                    self.first = Some(e.to_string());
                }
                match self.program.input.max_bad_records {
                    Some(max) if self.enforce && summary.bad() > max => Err(format!(
                        "{}: more than input.max_bad_records ({max}) records were lost to bad input \
                         ({}; {} decoded so far; first: {}); fix or replace the file, or raise \
                         input.max_bad_records to accept the loss",
                        self.input.display(),
                        by_reason(summary),
                        summary.records,
                        self.first.as_deref().unwrap_or_default(),
                    )),
                    _ => Ok(()),
                }
            }
        }
    }

    /// At the end of the file: a run that decoded nothing but met bad input, or lost more
    /// than `max_bad_ratio` of its records, fails.
    fn check_end(&self, summary: &RunSummary) -> Result<(), String> {
        let bad = summary.bad();
        if bad == 0 || !self.enforce {
            return Ok(());
        }
        let first = self.first.as_deref().unwrap_or_default();
        let input = self.input.display();
        if summary.records == 0 {
            return Err(format!(
                "{input}: nothing could be read: no record was decoded, and {} (first: {first}); \
                 {}",
                by_reason(summary),
                self.format.expectation()
            ));
        }
        let max = self.program.input.max_bad_ratio;
        let read = summary.records + bad;
        if bad as f64 > max * read as f64 {
            return Err(format!(
                "{input}: {bad} of {read} records ({:.1}%) were lost to bad input, more than \
                 input.max_bad_ratio ({max}) allows ({}; first: {first}); fix or replace the \
                 file, or raise input.max_bad_ratio to accept the loss",
                100.0 * bad as f64 / read as f64,
                by_reason(summary)
            ));
        }
        Ok(())
    }
}

/// `records lost: 3 invalid_utf8, 1 truncated_file (1 of unknown size, counted as 1)`.
fn by_reason(summary: &RunSummary) -> String {
    let mut s = summary
        .bad_records
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect::<Vec<_>>()
        .join(", ");
    if summary.unknown_losses > 0 {
        s.push_str(&format!(
            " ({} of unknown size, counted as 1)",
            summary.unknown_losses
        ));
    }
    format!("records lost: {s}")
}

/// Decodes `input` and runs its events through `program`, handing each row to `write_row`;
/// stops at the first error `write_row` returns.
pub(crate) fn process_file(
    program: &Program,
    input: &Path,
    schemas: Option<&Path>,
    lookups: Option<&mut Enricher>,
    options: RunOptions<'_>,
    write_row: impl FnMut(&str, &Row) -> Result<(), RunError>,
) -> Result<RunSummary, RunError> {
    let mut processor = SessionProcessor::new(program);
    process_file_in(&mut processor, input, schemas, lookups, options, write_row)
}

/// [`process_file`] with a processor set up by the caller (`spanflow trace` gives it a
/// recorder, and reads it back afterwards).
pub(crate) fn process_file_in(
    processor: &mut SessionProcessor<'_>,
    input: &Path,
    schemas: Option<&Path>,
    mut lookups: Option<&mut Enricher>,
    options: RunOptions<'_>,
    mut write_row: impl FnMut(&str, &Row) -> Result<(), RunError>,
) -> Result<RunSummary, RunError> {
    let program = processor.program();
    crate::lookup::check_enricher(program, lookups.is_some())?;
    warn_file_run_dead_letters(program, input);
    let projection = projection_of(program)?;
    let bytes_read = crate::decode::files::BytesRead::default();
    let reader = RecordReader::open_with(
        input,
        projection,
        schemas,
        options.input_format,
        &bytes_read,
    )
    .map_err(|e| e.to_string())?;
    let format = reader.format();
    // Decoding runs a batch ahead on a second core while this thread evaluates (regular files).
    let regular_file = std::fs::metadata(input).is_ok_and(|m| m.is_file());
    let mut reader = FileRecords::new(reader, regular_file).map_err(|e| {
        format!(
            "cannot start the thread that decodes {}: {e}",
            input.display()
        )
    })?;
    if options.node_stats {
        // Counts only: no step is timed.
        processor.enable_node_stats(u32::MAX);
    }
    let write_error: std::cell::RefCell<Option<RunError>> = Default::default();
    let mut sink = |session: &str, row: &Row| {
        let mut slot = write_error.borrow_mut();
        if slot.is_none() {
            if let Err(e) = write_row(session, row) {
                *slot = Some(e);
            }
        }
    };
    let mut summary = RunSummary::default();
    let mut budget = Budget {
        enforce: options.enforce_budget,
        program,
        input,
        format,
        errors: BTreeMap::new(),
        first: None,
    };
    let stopped = || options.stop.is_some_and(|s| s.load(Ordering::Relaxed));
    // With `sort`, every event waits here until the end of the file.
    let mut held: Vec<(spanflow_engine::Str, spanflow_engine::Record)> = Vec::new();
    let mut event = DecodedEvent::default();
    let mut progress =
        crate::progress::FileProgress::start(input, &bytes_read, format != FileFormat::Parquet);
    while let Some(item) = reader.read_next(&mut event) {
        match item {
            Ok(_) => {
                summary.records += 1;
                if let Some(p) = &mut progress {
                    p.record(summary.records);
                }
                // Lent, not taken: the decoder resets the record for the next one.
                let record = &mut event.record;
                if crate::lookup::join(lookups.as_deref_mut(), &event.session_key, record)? {
                    if options.sort {
                        held.push((
                            std::mem::take(&mut event.session_key),
                            std::mem::take(record),
                        ));
                    } else {
                        processor
                            .push(&event.session_key, &*record, &mut sink)
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            Err(e) => budget.bad_record(&mut summary, e)?,
        }
        if let Some(e) = write_error.borrow_mut().take() {
            return Err(e);
        }
        if stopped() {
            summary.interrupted = true;
            break;
        }
    }
    if options.sort && !summary.interrupted {
        // Stable: events at the same time and sequence keep their order in the file.
        held.sort_by_key(|(_, r)| (r.time, r.sequence));
        for (key, record) in held.drain(..) {
            processor
                .push(&key, record, &mut sink)
                .map_err(|e| e.to_string())?;
            if let Some(e) = write_error.borrow_mut().take() {
                return Err(e);
            }
            if stopped() {
                summary.interrupted = true;
                break;
            }
        }
    }
    // Interrupted: the sessions still open are not evaluated (their ends are not known).
    if !summary.interrupted {
        processor.finish(&mut sink);
    }
    let _ = sink;
    if let Some(e) = write_error.into_inner() {
        return Err(e);
    }
    drop(progress);
    summary.stats = processor.stats().clone();
    summary.node_stats = options.node_stats.then(|| processor.take_node_stats());
    if !summary.interrupted {
        budget.check_end(&summary)?;
    }
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

/// The reader format of `--input-format`.
fn file_format(f: InputFormat) -> FileFormat {
    match f {
        InputFormat::Avro => FileFormat::Ocf,
        InputFormat::Framed => FileFormat::Framed,
        InputFormat::Jsonl => FileFormat::Jsonl,
        InputFormat::Csv => FileFormat::Csv,
        InputFormat::Parquet => FileFormat::Parquet,
    }
}

/// The table format of `--format` (`None`: JSON lines).
fn table_format(f: RowFormat) -> Option<TableFormat> {
    match f {
        RowFormat::Jsonl => None,
        RowFormat::Csv => Some(TableFormat::Csv),
        RowFormat::Parquet => Some(TableFormat::Parquet),
    }
}

/// What `run --input` was asked to do.
pub struct FileRun<'a> {
    /// The input file.
    pub input: &'a Path,
    /// `--input-format` (`None`: from the file's name, else its first bytes).
    pub input_format: Option<FileFormat>,
    /// `--format csv|parquet` (`None`: JSON lines, or the outputs' sinks).
    pub table: Option<TableFormat>,
    /// `--schemas`.
    pub schemas: Option<&'a Path>,
    /// `--output`.
    pub output: &'a Path,
    /// `--config`.
    pub config: Option<&'a Path>,
    /// `--stdout-only`: every output as JSON lines, whatever its sink.
    pub stdout_only: bool,
    /// `--sort`: order the events by time before evaluating them.
    pub sort: bool,
    /// `--stats`: print what each node did after the run.
    pub stats: bool,
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
    // SIGINT/SIGTERM stop the run after the record in hand, as they stop a stream.
    let stop = crate::stream_app::stop_on_signals(
        "Stop requested: finishing the record in hand, flushing the output, then exiting.",
    );
    let options = RunOptions {
        sort: run.sort,
        stop: Some(&stop),
        enforce_budget: true,
        input_format: run.input_format,
        node_stats: run.stats,
    };
    let result = RuntimeConfig::load(run.config)
        .map_err(|e| RunError::Failed(e.to_string()))
        .and_then(|config| {
            if let Some(format) = run.table {
                return crate::table_output::run_file(
                    program, run, &config, options, &stop, format,
                );
            }
            let output = RunOutput::create(run.output, run.input)?;
            let result = if run.stdout_only || json_only(program) {
                run_file_to_json(program, run, &config, &output, options, &stop)
            } else {
                run_file_to_sinks(program, run, &config, &output, options, &stop)
                    .map_err(RunError::Failed)
            };
            match result {
                Ok(done) => output.commit().map(|()| done).map_err(RunError::Failed),
                Err(e) => {
                    output.discard();
                    Err(e)
                }
            }
        });
    match result {
        Ok((s, written)) => {
            let bad = s.bad();
            tracing::info!(
                spec = %program.name,
                records = s.records,
                sessions = s.stats.sessions,
                rows = s.stats.rows,
                rows_written = written,
                bad_records = bad,
                late_dropped = s.stats.late_dropped,
                late_not_dead_lettered = s.stats.late_dead_lettered,
                interrupted = s.interrupted,
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
            warn_late_events(program, &s, run.sort);
            if let Some(nodes) = &s.node_stats {
                // stderr: stdout may be carrying the rows.
                eprint!("{}", crate::node_stats::node_table(program, nodes));
            }
            if s.records == 0 && bad == 0 {
                tracing::warn!(
                    input = %run.input.display(),
                    other_records = s.other_records,
                    "The input holds no record of the spec's type: no rows."
                );
            }
            if s.interrupted {
                tracing::warn!(
                    records = s.records,
                    output = %run.output.display(),
                    "Interrupted: the output holds the rows of the records read until the signal; sessions still open were not evaluated."
                );
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(RunError::BrokenPipe) => ExitCode::from(EXIT_BROKEN_PIPE),
        Err(RunError::Failed(e)) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Late events dropped are data lost: say how many, and how not to lose them.
fn warn_late_events(program: &Program, s: &RunSummary, sorted: bool) {
    let late = s.stats.late_dropped + s.stats.late_dead_lettered;
    if late == 0 {
        return;
    }
    let lateness_secs = program.input.lateness as f64 / 1000.0;
    let hint = if sorted {
        "the file was sorted, so these are events a whole input.session_gap_secs behind the \
         input's newest event: raise input.session_gap_secs to keep them"
    } else {
        "the file is out of order: raise input.lateness_secs to reorder events that far behind, \
         run with --sort to order each session's events before evaluation, or sort the file"
    };
    tracing::warn!(
        late_events = late,
        records = s.records,
        lateness_secs,
        "{late} of {} events arrived behind their session's newest event by more than input.lateness_secs ({lateness_secs} s) and were dropped: {hint}.",
        s.records
    );
}

/// A file run whose outputs all write JSON lines (or `--stdout-only`): to stdout or the
/// output file.
fn run_file_to_json(
    program: &Program,
    run: &FileRun<'_>,
    config: &RuntimeConfig,
    output: &RunOutput,
    options: RunOptions<'_>,
    stop: &Arc<AtomicBool>,
) -> Result<(RunSummary, u64), RunError> {
    let mut lookups = crate::lookup::FileLookups::connect(program, config, stop)?;
    let enricher = lookups.as_mut().map(|l| &mut l.enricher);
    let (input, schemas) = (run.input, run.schemas);
    let result = match output.file() {
        None => {
            let mut out = BufWriter::new(io::stdout().lock());
            run_program_on_file_with(program, input, schemas, &mut out, enricher, options)
        }
        Some(file) => {
            let mut out = BufWriter::new(file);
            run_program_on_file_with(program, input, schemas, &mut out, enricher, options)
        }
    };
    if let Some(l) = &lookups {
        tracing::info!(stats = ?l.enricher.stats(), "Lookups.");
    }
    result.map(|s| {
        let rows = s.stats.rows;
        (s, rows)
    })
}

/// A file run whose outputs go to the sinks the spec names (ScyllaDB tables, Kafka topics,
/// JSON lines to `--output`), configured by the runtime config.
fn run_file_to_sinks(
    program: &Program,
    run: &FileRun<'_>,
    config: &RuntimeConfig,
    output: &RunOutput,
    options: RunOptions<'_>,
    stop: &Arc<AtomicBool>,
) -> Result<(RunSummary, u64), String> {
    let registry = config
        .schema_registry
        .as_ref()
        .map(RegistryClient::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    let runtime = crate::kafka::io_runtime()?;
    // A stop signal also ends the wait for an unreachable cluster.
    let mut lookups = crate::lookup::connect(program, &config.scylla, &runtime, stop)?
        .map(|e| e.with_stop(stop.clone()));
    let sinks = build_sinks(
        program,
        output.path(),
        config,
        registry.as_ref(),
        &runtime,
        stop,
    )?;
    let writer = RowWriter::new(&runtime, program, sinks, config.delivery.max_in_flight);
    let result = run_program_on_file_to_sinks_with(
        program,
        run.input,
        run.schemas,
        writer,
        lookups.as_mut(),
        options,
    );
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
    if output == Path::new("-") {
        return match crate::generate::fixture_bytes(kind, &config) {
            Ok((bytes, n)) => with_stdout(|out| {
                out.write_all(&bytes)?;
                tracing::info!(records = n, path = "-", "Fixture written to stdout.");
                Ok(ExitCode::SUCCESS)
            }),
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::FAILURE
            }
        };
    }
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
