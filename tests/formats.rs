//! File runs over JSON Lines, CSV and Parquet: each gives exactly the rows of the Avro run on
//! the same events (the JSON Lines, CSV and Parquet files are written here from the Avro
//! fixture), bad records follow `on_bad_record` with messages naming file, line or row, column,
//! value and type (snapshotted), Parquet reads only the projected columns, and `--format csv` /
//! `--format parquet` rows read back equal the JSON lines.

use crate::bad_input::{cir, Scratch};
use crate::specs::repo_root;
use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, MapBuilder, StringBuilder, StringDictionaryBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};
use spanflow::app::{projection_of, run_program_on_file_with, RunError, RunOptions, RunSummary};
use spanflow::decode::files::{FileFormat, RecordReader};
use spanflow::decode::DecodedEvent;
use spanflow::output::scalar_to_json;
use spanflow::spec_file::load;
use spanflow_engine::Scalar;
use spanflow_operators::spec::{BadRecordPolicy, LateEventPolicy};
use spanflow_operators::Program;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The Avro fixture's events as JSON objects (apache-avro's reading of the file).
fn fixture_events() -> Vec<Map<String, Value>> {
    let path = repo_root().join("fixtures/generated/heartbeats-small.avro");
    let reader = apache_avro::Reader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader
        .map(|v| match Value::try_from(v.unwrap()).unwrap() {
            Value::Object(m) => m,
            other => panic!("a record reads as an object, not {other}"),
        })
        .collect()
}

fn write_jsonl(events: &[Map<String, Value>], path: &Path) {
    let mut text = String::new();
    for e in events {
        text.push_str(&serde_json::to_string(e).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The CSV columns: the heartbeat's fields, `device` flattened to `device.os`/`device.model`,
/// `tags` (a map) as JSON text.
const CSV_COLUMNS: [&str; 12] = [
    "sessionId",
    "timestamp",
    "seq",
    "playerState",
    "cdn",
    "bitrateKbps",
    "network",
    "userAction",
    "device.os",
    "device.model",
    "bufferLengthSec",
    "tags",
];

fn csv_row(e: &Map<String, Value>) -> Vec<String> {
    CSV_COLUMNS
        .iter()
        .map(|c| {
            let v = match c.split_once('.') {
                Some((outer, inner)) => &e[outer][inner],
                None => &e[*c],
            };
            match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        })
        .collect()
}

fn write_csv(rows: &[Vec<String>], path: &Path) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(CSV_COLUMNS).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// The events as Parquet, in row groups of 100: the time a millisecond timestamp, `network` a
/// dictionary (a categorical), `device` a struct, `tags` a map (a type spanflow does not
/// read: the spec does not project it, so its pages are never decoded).
fn write_parquet(events: &[Map<String, Value>], path: &Path) {
    let batch = parquet_batch(events);
    let mut w = parquet_writer(path, &batch, 100);
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn parquet_writer(path: &Path, like: &RecordBatch, row_group: usize) -> ArrowWriter<std::fs::File> {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group))
        .build();
    let file = std::fs::File::create(path).unwrap();
    ArrowWriter::try_new(file, like.schema(), Some(props)).unwrap()
}

fn parquet_batch(events: &[Map<String, Value>]) -> RecordBatch {
    let (mut session, mut player, mut cdn, mut action) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut os, mut model) = (StringBuilder::new(), StringBuilder::new());
    let mut time = TimestampMillisecondBuilder::new();
    let mut seq = Int64Builder::new();
    let mut bitrate = Int32Builder::new();
    let mut network = StringDictionaryBuilder::<Int32Type>::new();
    let mut buffer = Float64Builder::new();
    let mut tags = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let s = |v: &Value| v.as_str().map(str::to_owned);
    for e in events {
        session.append_option(s(&e["sessionId"]));
        time.append_option(e["timestamp"].as_i64());
        seq.append_option(e["seq"].as_i64());
        player.append_option(s(&e["playerState"]));
        cdn.append_option(s(&e["cdn"]));
        bitrate.append_option(e["bitrateKbps"].as_i64().map(|b| b as i32));
        network.append_option(e["network"].as_str());
        action.append_option(s(&e["userAction"]));
        os.append_option(s(&e["device"]["os"]));
        model.append_option(s(&e["device"]["model"]));
        buffer.append_option(e["bufferLengthSec"].as_f64());
        for (k, v) in e["tags"].as_object().unwrap() {
            tags.keys().append_value(k);
            tags.values().append_value(v.as_str().unwrap());
        }
        tags.append(true).unwrap();
    }
    let device = StructArray::new(
        Fields::from(vec![
            Field::new("os", DataType::Utf8, true),
            Field::new("model", DataType::Utf8, true),
        ]),
        vec![Arc::new(os.finish()), Arc::new(model.finish())],
        None,
    );
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("sessionId", Arc::new(session.finish())),
        ("timestamp", Arc::new(time.finish())),
        ("seq", Arc::new(seq.finish())),
        ("playerState", Arc::new(player.finish())),
        ("cdn", Arc::new(cdn.finish())),
        ("bitrateKbps", Arc::new(bitrate.finish())),
        ("network", Arc::new(network.finish())),
        ("userAction", Arc::new(action.finish())),
        ("device", Arc::new(device)),
        ("bufferLengthSec", Arc::new(buffer.finish())),
        ("tags", Arc::new(tags.finish())),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

fn write_batch(columns: Vec<(&str, ArrayRef)>, path: &Path) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut w = parquet_writer(path, &batch, 100);
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Not a test: writes JSON Lines, CSV and Parquet copies of the Avro file named by
/// `SPANFLOW_CONVERT` beside it (`x.avro` → `x.jsonl`, `x.csv`, `x.parquet`), streaming, for
/// measuring each input format on a large file: `SPANFLOW_CONVERT=/tmp/hb.avro cargo test
/// --release --test integration formats::convert -- --ignored`.
#[test]
#[ignore = "a tool: converts the file SPANFLOW_CONVERT names"]
fn convert() {
    let Some(source) = std::env::var_os("SPANFLOW_CONVERT").map(PathBuf::from) else {
        panic!("set SPANFLOW_CONVERT to an Avro heartbeats file");
    };
    let reader = apache_avro::Reader::new(std::fs::File::open(&source).unwrap()).unwrap();
    let mut jsonl =
        std::io::BufWriter::new(std::fs::File::create(source.with_extension("jsonl")).unwrap());
    let mut csv = csv::Writer::from_path(source.with_extension("csv")).unwrap();
    csv.write_record(CSV_COLUMNS).unwrap();
    let mut parquet = None;
    let mut chunk = Vec::new();
    let flush = |chunk: &mut Vec<Map<String, Value>>,
                 parquet: &mut Option<ArrowWriter<std::fs::File>>| {
        if chunk.is_empty() {
            return;
        }
        let batch = parquet_batch(chunk);
        parquet
            .get_or_insert_with(|| {
                parquet_writer(&source.with_extension("parquet"), &batch, 128 * 1024)
            })
            .write(&batch)
            .unwrap();
        chunk.clear();
    };
    for v in reader {
        let Value::Object(e) = Value::try_from(v.unwrap()).unwrap() else {
            panic!("not a record");
        };
        serde_json::to_writer(&mut jsonl, &e).unwrap();
        std::io::Write::write_all(&mut jsonl, b"\n").unwrap();
        csv.write_record(csv_row(&e)).unwrap();
        chunk.push(e);
        if chunk.len() == 65_536 {
            flush(&mut chunk, &mut parquet);
        }
    }
    flush(&mut chunk, &mut parquet);
    parquet.unwrap().close().unwrap();
    csv.flush().unwrap();
    std::io::Write::flush(&mut jsonl).unwrap();
}

/// A spec over the heartbeats reading a nested field, an int, a double and an enum, with a
/// column of each type, a row per event; with `schema`, the fields' types come from the
/// heartbeat schema, else from `type:`.
fn mix_spec(dir: &Path, schema: bool) -> Program {
    let avsc = repo_root().join("fixtures/avro/heartbeat.avsc");
    let (schema_line, t) = if schema {
        (format!("  schema: {}\n", avsc.display()), ["", "", "", ""])
    } else {
        (
            String::new(),
            [
                ", type: string",
                ", type: f64",
                ", type: f64",
                ", type: string",
            ],
        )
    };
    let yaml = format!(
        "name: mix\ninput:\n  session_key: sessionId\n  time: timestamp\n  sequence: seq\n{schema_line}\
         nodes:\n  - id: events\n    op: event_source\n\
         \x20 - id: os\n    op: get\n    inputs: [events]\n    with: {{ field: device.os{} }}\n\
         \x20 - id: bitrate\n    op: get\n    inputs: [events]\n    with: {{ field: bitrateKbps{} }}\n\
         \x20 - id: buffer_len\n    op: get\n    inputs: [events]\n    with: {{ field: bufferLengthSec{} }}\n\
         \x20 - id: action\n    op: get\n    inputs: [events]\n    with: {{ field: userAction{} }}\n\
         \x20 - id: is_seek\n    op: equals\n    inputs: [action]\n    with: {{ value: seek }}\n\
         outputs:\n  - name: mix\n    evaluate_at: every_event\n    columns: [os, bitrate, buffer_len, action, is_seek]\n",
        t[0], t[1], t[2], t[3]
    );
    let path = dir.join(if schema {
        "mix.yaml"
    } else {
        "mix-untyped.yaml"
    });
    std::fs::write(&path, yaml).unwrap();
    load(&path).program.expect("the mix spec is valid")
}

fn spec(rel: &str) -> Program {
    load(&repo_root().join(rel)).program.expect("valid spec")
}

/// Runs `program` over `input` as `spanflow run` does (budget enforced): the JSON lines, or
/// the error.
fn run(
    program: &Program,
    input: &Path,
    format: Option<FileFormat>,
) -> Result<(String, RunSummary), String> {
    let mut out = Vec::new();
    let options = RunOptions {
        enforce_budget: true,
        input_format: format,
        ..RunOptions::default()
    };
    match run_program_on_file_with(program, input, None, &mut out, None, options) {
        Ok(s) => Ok((String::from_utf8(out).unwrap(), s)),
        Err(RunError::Failed(e)) => Err(e),
        Err(RunError::BrokenPipe) => panic!("no pipe here"),
    }
}

/// The fixture as JSON Lines, CSV and Parquet in `dir`.
fn converted(dir: &Path) -> [PathBuf; 3] {
    let events = fixture_events();
    assert!(events.len() > 1000, "{}", events.len());
    let paths = [
        dir.join("events.jsonl"),
        dir.join("events.csv"),
        dir.join("events.parquet"),
    ];
    write_jsonl(&events, &paths[0]);
    write_csv(&events.iter().map(csv_row).collect::<Vec<_>>(), &paths[1]);
    write_parquet(&events, &paths[2]);
    paths
}

#[test]
fn every_input_format_gives_the_rows_of_the_avro_run() {
    let dir = Scratch::new("formats-same-rows");
    let inputs = converted(dir.path());
    let avro = repo_root().join("fixtures/generated/heartbeats-small.avro");
    let programs = [
        (
            "cir",
            spec("dag-specs/video/connection_induced_rebuffering.yaml"),
        ),
        ("play_time", spec("dag-specs/video/play_time_on_cdn.yaml")),
        ("mix", mix_spec(dir.path(), true)),
        ("mix untyped", mix_spec(dir.path(), false)),
    ];
    for (name, program) in &programs {
        let (expected, summary) = run(program, &avro, None).unwrap();
        assert!(
            summary.stats.rows >= 20,
            "{name}: {} rows",
            summary.stats.rows
        );
        for input in &inputs {
            let (rows, s) = run(program, input, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.records, summary.records, "{name} on {}", input.display());
            assert_eq!(
                s.bad(),
                0,
                "{name} on {}: {:?}",
                input.display(),
                s.bad_records
            );
            assert!(
                rows == expected,
                "{name} on {}: the rows differ from Avro's",
                input.display()
            );
        }
    }
    // The mix spec's rows hold strings, numbers, booleans and nulls.
    let (rows, _) = run(&programs[2].1, &avro, None).unwrap();
    for needle in [
        r#""os":"#,
        r#""bitrate":"#,
        r#""is_seek":true"#,
        r#""action":null"#,
    ] {
        assert!(rows.contains(needle), "{needle}");
    }
}

#[test]
fn the_format_is_chosen_by_extension_or_by_input_format() {
    let dir = Scratch::new("formats-choice");
    let [jsonl, csv, parquet] = converted(dir.path());
    let program = cir(BadRecordPolicy::Drop, LateEventPolicy::Drop);
    let (expected, _) = run(&program, &jsonl, None).unwrap();
    for (src, format) in [
        (&jsonl, FileFormat::Jsonl),
        (&csv, FileFormat::Csv),
        (&parquet, FileFormat::Parquet),
    ] {
        let renamed = dir.path().join("events.data");
        std::fs::copy(src, &renamed).unwrap();
        let (rows, _) = run(&program, &renamed, Some(format)).unwrap();
        assert!(rows == expected, "{format:?} by --input-format");
    }
    // Without --input-format, a Parquet file is known by its magic bytes whatever its name.
    std::fs::copy(&parquet, dir.path().join("events.data")).unwrap();
    let (rows, _) = run(&program, &dir.path().join("events.data"), None).unwrap();
    assert!(rows == expected);
    // A JSON Lines file named otherwise is not guessed: read as framed Avro, it needs schemas.
    std::fs::copy(&jsonl, dir.path().join("events.data")).unwrap();
    let e = run(&program, &dir.path().join("events.data"), None).unwrap_err();
    assert!(e.contains("framed Confluent messages"), "{e}");

    // The CLI: `--input-format` on a file whose name says nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .env_remove("SPANFLOW_CONFIG")
        .args(["run"])
        .arg(repo_root().join("dag-specs/video/connection_induced_rebuffering.yaml"))
        .arg("--input")
        .arg(dir.path().join("events.data"))
        .args(["--input-format", "jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout).unwrap() == expected);
}

/// Every bad record of `input` as the reader reports it, one per line.
fn bad_messages(program: &Program, input: &Path, dir: &Path) -> String {
    let mut reader = RecordReader::open(input, projection_of(program).unwrap(), None).unwrap();
    let mut e = DecodedEvent::default();
    let mut lines = Vec::new();
    while let Some(r) = reader.read_next(&mut e) {
        if let Err(err) = r {
            lines.push(format!("{} [{}]", err, err.reason()));
        }
    }
    lines.join("\n").replace(&format!("{}/", dir.display()), "")
}

/// Bad lines put between the events of the fixture: every kind a text file can have.
fn bad_json_lines() -> Vec<&'static str> {
    vec![
        r#"{"sessionId": "bad-1", "timestamp": 1700000000000, "seq": 0, "userAction": "rewind"}"#,
        r#"{"sessionId": "bad-2", "timestamp": "soon", "seq": 0}"#,
        r#"{"sessionId": "bad-3", "timestamp": 1700000000000, "seq": 0, "cdn": 7}"#,
        r#"{"sessionId": "bad-4", "timestamp": 1700000000000, "seq": 1.5}"#,
        r#"{"sessionId": "bad-5", "timestamp": 1700000000000,"#,
        r#"[1, 2, 3]"#,
        r#"{"timestamp": 1700000000000, "seq": 0}"#,
        r#"{"sessionId": "bad-6", "timestamp": 1700000000000}"#,
    ]
}

#[test]
fn bad_json_lines_follow_the_policy_with_their_messages() {
    let dir = Scratch::new("formats-bad-jsonl");
    let events = fixture_events();
    let mut text = String::new();
    let bad = bad_json_lines();
    for (i, e) in events.iter().enumerate() {
        if i % 50 == 7 && i / 50 < bad.len() {
            text.push_str(bad[i / 50]);
            text.push('\n');
        }
        text.push_str(&serde_json::to_string(e).unwrap());
        text.push_str("\n\n");
    }
    let input = dir.write("events.jsonl", text.as_bytes());
    let clean = dir.path().join("clean.jsonl");
    write_jsonl(&events, &clean);
    check_policy(&input, &clean, dir.path(), "bad_jsonl", bad.len() as u64);
}

#[test]
fn bad_csv_rows_follow_the_policy_with_their_messages() {
    let dir = Scratch::new("formats-bad-csv");
    let events = fixture_events();
    let good: Vec<Vec<String>> = events.iter().map(csv_row).collect();
    let bad = |session: &str, f: &dyn Fn(&mut Vec<String>)| {
        let mut row = good[0].clone();
        row[0] = session.into();
        f(&mut row);
        row
    };
    let bads = [
        bad("bad-1", &|r| r[7] = "rewind".into()),
        bad("bad-2", &|r| r[1] = "1.7e12".into()),
        bad("bad-3", &|r| r[2] = String::new()),
        bad("bad-4", &|r| r[1] = "yesterday".into()),
        bad("bad-5", &|r| r.truncate(5)),
    ];
    let mut rows = Vec::new();
    for (i, r) in good.iter().enumerate() {
        if i % 50 == 7 && i / 50 < bads.len() {
            rows.push(bads[i / 50].clone());
        }
        rows.push(r.clone());
    }
    let input = dir.path().join("events.csv");
    // Unequal rows need a flexible writer.
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(&input)
        .unwrap();
    w.write_record(CSV_COLUMNS).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
    let clean = dir.path().join("clean.csv");
    write_csv(&good, &clean);
    check_policy(&input, &clean, dir.path(), "bad_csv", bads.len() as u64);
}

#[test]
fn bad_parquet_rows_follow_the_policy_with_their_messages() {
    let dir = Scratch::new("formats-bad-parquet");
    let mut events = fixture_events();
    let clean = dir.path().join("clean.parquet");
    write_parquet(&events, &clean);
    // Rows that do not fit: a symbol the enum lacks, a null session key, a null in a field
    // that is not nullable (`seq`).
    let template = events[0].clone();
    let mut bad = |at: usize, f: &dyn Fn(&mut Map<String, Value>)| {
        let mut e = template.clone();
        e.insert("sessionId".into(), format!("bad-{at}").into());
        f(&mut e);
        events.insert(at, e);
    };
    bad(130, &|e| {
        e.insert("userAction".into(), "rewind".into());
    });
    bad(250, &|e| {
        e.insert("sessionId".into(), Value::Null);
    });
    bad(777, &|e| {
        e.insert("seq".into(), Value::Null);
    });
    let input = dir.path().join("events.parquet");
    write_parquet(&events, &input);
    check_policy(&input, &clean, dir.path(), "bad_parquet", 3);
}

/// `input` is `clean` with `bad` bad records among its records: their messages are as
/// snapshotted, `fail` stops at the first, `drop` gives the clean file's rows and counts them.
fn check_policy(input: &Path, clean: &Path, dir: &Path, name: &str, bad: u64) {
    let dropping = cir(BadRecordPolicy::Drop, LateEventPolicy::Drop);
    let messages = bad_messages(&dropping, input, dir);
    assert_eq!(messages.lines().count() as u64, bad, "{messages}");
    insta::assert_snapshot!(name, messages);

    let (expected, clean_summary) = run(&dropping, clean, None).unwrap();
    let (rows, summary) = run(&dropping, input, None).unwrap();
    assert!(rows == expected, "{name}: the good records' rows");
    assert_eq!(summary.bad(), bad, "{:?}", summary.bad_records);
    assert_eq!(summary.records, clean_summary.records);

    let failing = cir(BadRecordPolicy::Fail, LateEventPolicy::Drop);
    let e = run(&failing, input, None).unwrap_err();
    let first = messages.lines().next().unwrap();
    let first = &first[..first.rfind(" [").unwrap()];
    assert!(e.contains(first), "{e}\nshould name {first}");
    assert!(e.contains("input.on_bad_record is `fail`"), "{e}");

    let mut limited = cir(BadRecordPolicy::Drop, LateEventPolicy::Drop);
    limited.input.max_bad_records = Some(bad - 1);
    let e = run(&limited, input, None).unwrap_err();
    assert!(e.contains("more than input.max_bad_records"), "{e}");
}

#[test]
fn a_file_that_reads_nothing_or_lacks_a_column_fails_with_what_it_should_hold() {
    let dir = Scratch::new("formats-nothing");
    let program = cir(BadRecordPolicy::Drop, LateEventPolicy::Drop);
    let prefix = format!("{}/", dir.path().display());
    let input = dir.write("every_line_bad.jsonl", b"{\"sessionId\": 1}\nnot json\n");
    let e = run(&program, &input, None).unwrap_err();
    insta::assert_snapshot!("jsonl_nothing_read", e.replace(&prefix, ""));

    let input = dir.write(
        "no_cdn.csv",
        b"sessionId,timestamp,seq,playerState,userAction\ns,1,0,play,\n",
    );
    let e = run(&program, &input, None).unwrap_err();
    insta::assert_snapshot!("csv_missing_column", e.replace(&prefix, ""));

    // A projected Parquet column of a type its field does not take fails at once.
    let input = dir.path().join("cdn_is_a_long.parquet");
    let n = 3;
    write_batch(
        vec![
            (
                "sessionId",
                Arc::new(arrow_array::StringArray::from(vec!["s"; n])) as ArrayRef,
            ),
            (
                "timestamp",
                Arc::new(arrow_array::Int64Array::from(vec![1i64; n])),
            ),
            (
                "seq",
                Arc::new(arrow_array::Int64Array::from(vec![0i64; n])),
            ),
            (
                "playerState",
                Arc::new(arrow_array::StringArray::from(vec!["play"; n])),
            ),
            (
                "cdn",
                Arc::new(arrow_array::Int64Array::from(vec![1i64; n])),
            ),
            (
                "userAction",
                Arc::new(arrow_array::StringArray::from(vec![None::<&str>; n])),
            ),
        ],
        &input,
    );
    let e = run(&program, &input, None).unwrap_err();
    insta::assert_snapshot!("parquet_wrong_type", e.replace(&prefix, ""));
}

#[test]
fn parquet_reads_only_the_projected_columns() {
    let dir = Scratch::new("formats-projection");
    let events = fixture_events();
    let input = dir.path().join("events.parquet");
    write_parquet(&events, &input);
    // The file's `tags` is a map, a type no spec field can have: it is never read.
    let file = std::fs::File::open(&input).unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert!(matches!(
        b.schema().field_with_name("tags").unwrap().data_type(),
        DataType::Map(..)
    ));
    let program = cir(BadRecordPolicy::Drop, LateEventPolicy::Drop);
    let (rows, s) = run(&program, &input, None).unwrap();
    assert_eq!(s.records, events.len() as u64);
    assert!(!rows.is_empty());
    // A spec that reads `tags` as a string is refused, naming the column and its type.
    let mut projection = projection_of(&program).unwrap();
    projection.reader = None;
    projection.push_field("tags".parse().unwrap(), spanflow_engine::ValueType::Str);
    let e = RecordReader::open(&input, projection, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("column `tags` has type Map("), "{e}");
}

/// The JSON lines of a run, as objects.
fn json_rows(text: &str) -> Vec<Map<String, Value>> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn cli_run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .env_remove("SPANFLOW_CONFIG")
        .arg("run")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn csv_and_parquet_rows_read_back_equal_the_json_lines() {
    let dir = Scratch::new("formats-outputs");
    let avro = repo_root().join("fixtures/generated/heartbeats-small.avro");
    let mix = mix_spec(dir.path(), true);
    let mix_path = dir.path().join("mix.yaml");
    let (json, _) = run(&mix, &avro, None).unwrap();
    let expected = json_rows(&json);
    assert!(expected.len() > 100);

    let csv_out = dir.path().join("rows.csv");
    cli_run(&[
        mix_path.as_os_str(),
        "--input".as_ref(),
        avro.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
        "--output".as_ref(),
        csv_out.as_os_str(),
    ]);
    assert_eq!(csv_rows(&csv_out), expected_csv(&expected));

    let parquet_out = dir.path().join("rows.parquet");
    cli_run(&[
        mix_path.as_os_str(),
        "--input".as_ref(),
        avro.as_os_str(),
        "--format".as_ref(),
        "parquet".as_ref(),
        "--output".as_ref(),
        parquet_out.as_os_str(),
    ]);
    assert_eq!(parquet_rows(&parquet_out), expected);

    // Several outputs: a file per output, each with that output's JSON rows.
    let spec = repo_root().join("dag-specs/video/play_time_on_cdn.yaml");
    let program = spec_of(&spec);
    let (json, _) = run(&program, &avro, None).unwrap();
    let all = json_rows(&json);
    let out = dir.path().join("play.parquet");
    cli_run(&[
        spec.as_os_str(),
        "--input".as_ref(),
        avro.as_os_str(),
        "--format".as_ref(),
        "parquet".as_ref(),
        "--output".as_ref(),
        out.as_os_str(),
    ]);
    assert!(
        !out.exists(),
        "several outputs: no file under the name itself"
    );
    for o in &program.outputs {
        let of: Vec<_> = all
            .iter()
            .filter(|r| r["output"] == o.name.as_str())
            .cloned()
            .collect();
        assert!(!of.is_empty(), "{}", o.name);
        let file = dir.path().join(format!("play.{}.parquet", o.name));
        assert_eq!(parquet_rows(&file), of, "{}", o.name);
    }
    // No temporary files are left beside them.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".spanflow-output-")
        })
        .collect();
    assert!(left.is_empty());
}

fn spec_of(path: &Path) -> Program {
    load(path).program.expect("valid spec")
}

/// The JSON rows as CSV cells: as `spanflow run --format csv` writes them.
fn expected_csv(rows: &[Map<String, Value>]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let Some(first) = rows.first() {
        out.push(first.keys().cloned().collect());
    }
    for r in rows {
        out.push(
            r.values()
                .map(|v| match v {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        );
    }
    out
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// A Parquet output's rows as JSON objects, values converted as the JSON rows convert them.
fn parquet_rows(path: &Path) -> Vec<Map<String, Value>> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let schema = batch.schema();
        for i in 0..batch.num_rows() {
            let mut m = Map::new();
            for (f, col) in schema.fields().iter().zip(batch.columns()) {
                let v = if col.is_null(i) {
                    Value::Null
                } else {
                    match col.data_type() {
                        DataType::Utf8 => col.as_string::<i32>().value(i).into(),
                        DataType::Boolean => col.as_boolean().value(i).into(),
                        DataType::Float64 => scalar_to_json(Some(&Scalar::F64(
                            col.as_primitive::<arrow_array::types::Float64Type>()
                                .value(i),
                        ))),
                        DataType::Timestamp(..) => col
                            .as_primitive::<TimestampMillisecondType>()
                            .value(i)
                            .into(),
                        other => panic!("unexpected column type {other}"),
                    }
                };
                m.insert(f.name().clone(), v);
            }
            rows.push(m);
        }
    }
    rows
}

#[test]
fn table_formats_refuse_what_they_cannot_write() {
    let avro = repo_root().join("fixtures/generated/heartbeats-small.avro");
    let spec = repo_root().join("dag-specs/video/play_time_on_cdn.yaml");
    let run = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_spanflow"))
            .env_remove("SPANFLOW_CONFIG")
            .arg("run")
            .arg(&spec)
            .arg("--input")
            .arg(&avro)
            .args(["--format", format])
            .output()
            .unwrap()
    };
    for (format, says) in [
        ("parquet", "a Parquet file is not written to stdout"),
        ("csv", "each written to its own file"),
    ] {
        let out = run(format);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert!(out.stdout.is_empty());
    }
    // One output to stdout is fine as CSV.
    let out = Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .env_remove("SPANFLOW_CONFIG")
        .arg("run")
        .arg(repo_root().join("dag-specs/video/connection_induced_rebuffering.yaml"))
        .arg("--input")
        .arg(&avro)
        .args(["--format", "csv"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("output,session,time,cir_secs_cdn1,cir_secs_all_cdns\n"),
        "{text}"
    );
}
