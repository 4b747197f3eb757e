//! The ScyllaDB sink against kassandra (an in-memory CQL server started inside each test), or
//! against the real cluster in `SCYLLA_NODES` when that is set: DDL, the rows of the CIR spec
//! read back, replays, file and Kafka runs into tables, and errors for missing tables and wrong
//! types.
//!
//! kassandra cannot parse `USING TIMESTAMP` (its parser ignores what follows `VALUES (...)`,
//! so the bound timestamp would be one value too many): on it these tests run with
//! `using_timestamp: false`, as they do without schema agreement and schema metadata, which
//! kassandra's system tables cannot serve. Tests that only a real cluster can answer (TTL
//! expiry, write timestamps) say "skipped" without one.

use crate::specs::repo_root;
use crate::support::cql::Kassandra;
use crate::support::cql_server::CqlServer;
use scylla::client::session::Session;
use scylla::value::CqlTimestamp;
use spanflow::app::{projection_of, run_program_on_file};
use spanflow::config::ScyllaConfig;
use spanflow::decode::files::RecordReader;
use spanflow::decode::DecodedEvent;
use spanflow::output::row_json;
use spanflow::pipeline::SessionProcessor;
use spanflow::sink::{
    connect_session, ddl, OutputsMeta, ScyllaSink, ScyllaSinkError, Sink, SinkRow,
    DEFAULT_REPLICATION,
};
use spanflow::spec_file::load;
use spanflow_engine::Scalar;
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::spec::ScyllaSinkSpec;
use spanflow_operators::Program;
use std::path::PathBuf;

fn cir() -> Program {
    let path = repo_root().join("dag-specs/video/connection_induced_rebuffering.yaml");
    load(&path).program.expect("the shipped CIR spec is valid")
}

fn heartbeats() -> PathBuf {
    repo_root().join("fixtures/generated/heartbeats-small.avro")
}

fn target(table: &str) -> Vec<(usize, ScyllaSinkSpec)> {
    vec![(
        0,
        ScyllaSinkSpec {
            keyspace: "spanflow_test".into(),
            table: table.into(),
            ..ScyllaSinkSpec::default()
        },
    )]
}

/// The settings kassandra needs.
fn kassandra_config(node: String) -> ScyllaConfig {
    ScyllaConfig {
        nodes: vec![node],
        await_schema_agreement: false,
        fetch_schema_metadata: false,
        using_timestamp: false,
        request_timeout_secs: 10,
        ..ScyllaConfig::default()
    }
}

/// The rows of `program` on `input`, as a file run produces them.
fn rows_of(program: &Program, input: &std::path::Path) -> Vec<SinkRow> {
    let mut reader = RecordReader::open(input, projection_of(program).unwrap(), None).unwrap();
    let mut processor = SessionProcessor::new(program);
    let mut rows = Vec::new();
    let mut emit = |session: &str, row: &Row| {
        rows.push(SinkRow {
            session: session.into(),
            row: row.clone(),
        })
    };
    let mut event = DecodedEvent::default();
    while let Some(item) = reader.read_next(&mut event) {
        item.unwrap();
        let record = std::mem::take(&mut event.record);
        processor
            .push(&event.session_key, record, &mut emit)
            .unwrap();
    }
    processor.finish(&mut emit);
    rows
}

/// JSON lines of the reference file run, sorted.
fn reference_json(program: &Program) -> Vec<String> {
    let mut out = Vec::new();
    run_program_on_file(program, &heartbeats(), None, &mut out).unwrap();
    let mut lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The table's rows as the JSON lines of a file run, sorted.
async fn table_json(session: &Session, program: &Program, table: &str) -> Vec<String> {
    let output = &program.outputs[0];
    let result = session
        .query_unpaged(
            format!(
                "SELECT session, time, cir_secs_cdn1, cir_secs_all_cdns FROM spanflow_test.{table}"
            ),
            (),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut lines: Vec<String> = result
        .rows::<(String, CqlTimestamp, Option<f64>, Option<f64>)>()
        .unwrap()
        .map(|r| {
            let (session, time, cdn1, all) = r.unwrap();
            let row = Row {
                output: 0,
                time: time.0,
                values: [cdn1, all]
                    .into_iter()
                    .map(|v| v.map(Scalar::F64))
                    .collect(),
            };
            serde_json::to_string(&row_json(&output.name, &output.columns, &session, &row)).unwrap()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_ddl_of_the_cir_spec() {
    let program = cir();
    let statements = ddl(
        &OutputsMeta::of(&program),
        &target("cir_per_session"),
        DEFAULT_REPLICATION,
    )
    .unwrap();
    insta::assert_snapshot!(statements.join(";\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cir_rows_round_trip_and_replays_change_nothing() {
    let server = CqlServer::start();
    let config = server.config();
    let program = cir();
    let meta = OutputsMeta::of(&program);
    let targets = target("cir_round_trip");
    let session = connect_session(&config).await.unwrap();
    let statements = ddl(&meta, &targets, DEFAULT_REPLICATION).unwrap();
    ScyllaSink::apply_ddl(&session, &statements).await.unwrap();
    // IF NOT EXISTS: applying the DDL again is harmless.
    ScyllaSink::apply_ddl(&session, &statements).await.unwrap();
    server
        .empty_table(&session, "spanflow_test.cir_round_trip")
        .await;

    let sink = Sink::Scylla(ScyllaSink::connect(&meta, &targets, &config).await.unwrap());
    let rows = rows_of(&program, &heartbeats());
    assert_eq!(rows.len(), 20);
    let writes = rows.iter().map(|r| sink.write(r));
    for result in futures_util::future::join_all(writes).await {
        result.unwrap();
    }
    sink.flush().await.unwrap();
    let expected = reference_json(&program);
    let written = table_json(&session, &program, "cir_round_trip").await;
    assert_eq!(written, expected);

    // A replay (say, after a restart from an older commit) writes the same rows again.
    for r in &rows {
        sink.write(r).await.unwrap();
    }
    sink.flush().await.unwrap();
    assert_eq!(
        table_json(&session, &program, "cir_round_trip").await,
        expected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_a_permanent_error_naming_it() {
    let server = CqlServer::start();
    let config = server.config();
    let program = cir();
    let meta = OutputsMeta::of(&program);
    let session = connect_session(&config).await.unwrap();
    // The keyspace exists, the table does not.
    let statements = ddl(&meta, &target("cir_per_session"), DEFAULT_REPLICATION).unwrap();
    ScyllaSink::apply_ddl(&session, &statements[..1])
        .await
        .unwrap();
    let e = ScyllaSink::connect(&meta, &target("no_such_table"), &config)
        .await
        .unwrap_err();
    assert!(matches!(e, ScyllaSinkError::Prepare { .. }), "{e:?}");
    assert!(!e.is_retryable(), "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains("keyspace `spanflow_test`, table `no_such_table`"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_of_another_type_is_a_permanent_error_naming_it() {
    let server = CqlServer::start();
    let config = server.config();
    let program = cir();
    let meta = OutputsMeta::of(&program);
    let session = connect_session(&config).await.unwrap();
    let statements = ddl(&meta, &target("cir_per_session"), DEFAULT_REPLICATION).unwrap();
    ScyllaSink::apply_ddl(&session, &statements[..1])
        .await
        .unwrap();
    ScyllaSink::apply_ddl(
        &session,
        &[
            "CREATE TABLE IF NOT EXISTS spanflow_test.wrong (session text, time timestamp, \
           cir_secs_cdn1 text, cir_secs_all_cdns double, PRIMARY KEY ((session), time))"
                .to_owned(),
        ],
    )
    .await
    .unwrap();
    let e = ScyllaSink::connect(&meta, &target("wrong"), &config)
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
    let message = e.to_string();
    assert!(message.contains("table `wrong`"), "{message}");
    assert!(message.contains("column `cir_secs_cdn1`"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_nodes_are_a_retryable_startup_error() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let program = cir();
    let mut config = kassandra_config(format!("127.0.0.1:{port}"));
    config.request_timeout_secs = 2;
    let e = ScyllaSink::connect(&OutputsMeta::of(&program), &target("t"), &config)
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_ignoring_using_timestamp_is_caught_at_startup() {
    // kassandra prepares `... VALUES (?, ?, ?, ?) USING TIMESTAMP ?` with four bound values:
    // the sink checks the count rather than failing on every write.
    let server = Kassandra::start();
    let mut config = kassandra_config(server.node());
    let program = cir();
    let meta = OutputsMeta::of(&program);
    let session = connect_session(&config).await.unwrap();
    let targets = target("cir_per_session");
    let statements = ddl(&meta, &targets, DEFAULT_REPLICATION).unwrap();
    ScyllaSink::apply_ddl(&session, &statements).await.unwrap();
    config.using_timestamp = true;
    let e = ScyllaSink::connect(&meta, &targets, &config)
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
    assert!(
        e.to_string()
            .contains("the prepared insert has 4 bound values, expected 5"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_of_another_type_is_a_permanent_write_error_naming_the_column() {
    let server = CqlServer::start();
    let config = server.config();
    let program = cir();
    let meta = OutputsMeta::of(&program);
    let targets = target("cir_wrong_value");
    let session = connect_session(&config).await.unwrap();
    let statements = ddl(&meta, &targets, DEFAULT_REPLICATION).unwrap();
    ScyllaSink::apply_ddl(&session, &statements).await.unwrap();
    let sink = ScyllaSink::connect(&meta, &targets, &config).await.unwrap();
    let row = SinkRow {
        session: "s1".into(),
        row: Row {
            output: 0,
            time: 1_000,
            values: [Some(Scalar::Bool(true)), None].into_iter().collect(),
        },
    };
    let e = sink.write(&row).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert_eq!(e.sink, "scylla table spanflow_test.cir_wrong_value");
    assert!(
        e.message
            .contains("keyspace `spanflow_test`, table `cir_wrong_value`, column `cir_secs_cdn1`"),
        "{e}"
    );
    let other = SinkRow {
        row: Row {
            output: 7,
            ..row.row
        },
        ..row
    };
    assert!(!sink.write(&other).await.unwrap_err().retryable);
}

/// A row of the `TYPED` table: time, total, select_2, c1st_cdn.
type TypedRow = (i64, Option<f64>, Option<String>, Option<bool>);

/// Three column types, nulls, and column names that are not plain CQL names.
const TYPED: &str = r#"
name: scylla-sink test
input: { session_key: k, time: t }
nodes:
  - { id: events, op: event_source }
  - { id: x, op: get, inputs: [events], with: { field: x, type: f64 } }
  - { id: Total, op: cumulative_sum, inputs: [x] }
  - { id: cdn_updates, op: get, inputs: [events], with: { field: cdn, type: string } }
  - { id: select, op: latest_event_to_state, inputs: [cdn_updates] }
  - { id: 1st-cdn, op: equals, inputs: [select], with: { value: CDN1 } }
outputs:
  - name: per_event
    evaluate_at: every_event
    columns: [Total, select, 1st-cdn]
    sink: { scylla: { keyspace: ks, table: per_event } }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booleans_texts_nulls_and_renamed_columns() {
    let program = Program::parse(TYPED, None).unwrap_or_else(|e| panic!("{e:?}"));
    let targets = spanflow::sink::scylla_targets(&program);
    assert_eq!(targets.len(), 1);
    let meta = OutputsMeta::of(&program);
    let layout = spanflow::sink::TableLayout::of(&meta, 0, &targets[0].1).unwrap();
    assert_eq!(layout.columns, ["total", "select_2", "c1st_cdn"]);
    assert_eq!(layout.types, ["double", "text", "boolean"]);
    let server = CqlServer::start();
    let config = server.config();
    let session = connect_session(&config).await.unwrap();
    ScyllaSink::apply_ddl(
        &session,
        &ddl(&meta, &targets, DEFAULT_REPLICATION).unwrap(),
    )
    .await
    .unwrap();
    server.empty_table(&session, "ks.per_event").await;
    let sink = ScyllaSink::for_program(&program, &config).await.unwrap();
    let row = |time, values: Vec<Option<Scalar>>| SinkRow {
        session: "s1".into(),
        row: Row {
            output: 0,
            time,
            values: values.into_iter().collect(),
        },
    };
    sink.write(&row(1, vec![Some(Scalar::F64(1.5)), None, None]))
        .await
        .unwrap();
    sink.write(&row(
        2,
        vec![
            Some(Scalar::F64(3.0)),
            Some(Scalar::Str("CDN1".into())),
            Some(Scalar::Bool(true)),
        ],
    ))
    .await
    .unwrap();
    let result = session
        .query_unpaged(
            "SELECT time, total, select_2, c1st_cdn FROM ks.per_event WHERE session = 's1'",
            (),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut rows: Vec<TypedRow> = result
        .rows::<(CqlTimestamp, Option<f64>, Option<String>, Option<bool>)>()
        .unwrap()
        .map(|r| {
            let (t, a, b, c) = r.unwrap();
            (t.0, a, b, c)
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    assert_eq!(
        rows,
        [
            (1, Some(1.5), None, None),
            (2, Some(3.0), Some("CDN1".into()), Some(true))
        ]
    );
}

#[test]
fn the_sink_spec_rejects_unknown_fields() {
    let spec = TYPED.replace("table: per_event", "table: per_event, ttl: 5");
    let e = format!("{:?}", Program::parse(&spec, None).unwrap_err());
    assert!(e.contains("unknown field `ttl`"), "{e}");
}

/// `spanflow run` on a Kafka source (librdkafka's mock cluster) with the per-session output
/// going to a CQL table: the table ends up with the rows of the file run.
#[test]
fn a_kafka_stream_lands_in_a_cql_table() {
    use crate::stream;
    let server = CqlServer::start();
    let (_cluster, bootstrap) = stream::mock_cluster("cql");
    stream::produce(&bootstrap, "heartbeats");
    let scratch = stream::Scratch::new("cql");
    let spec = stream::kafka_spec(&scratch, "heartbeats", "cql");
    let want: Vec<String> = {
        let mut lines: Vec<String> = stream::file_rows(&spec)
            .into_iter()
            .filter(|((key, _), _)| key.starts_with("cir_per_session/"))
            .map(|(_, v)| v.to_string())
            .collect();
        lines.sort();
        lines
    };
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "    columns: [cir_secs_cdn1, cir_secs_all_cdns]\n",
        "    columns: [cir_secs_cdn1, cir_secs_all_cdns]\n    sink: { scylla: { keyspace: spanflow_test, table: cir_stream } }\n",
    );
    std::fs::write(&spec, text).unwrap();
    let config = scratch.path("config.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka:\n  consumer_properties: {{ session.timeout.ms: \"3000\", heartbeat.interval.ms: \"300\" }}\n\
             delivery: {{ commit_interval_ms: 200 }}\n{}",
            server.config_yaml()
        ),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let program = cir();
    let session = rt.block_on(async {
        let session = connect_session(&server.config()).await.unwrap();
        let statements = ddl(
            &OutputsMeta::of(&program),
            &target("cir_stream"),
            DEFAULT_REPLICATION,
        )
        .unwrap();
        ScyllaSink::apply_ddl(&session, &statements).await.unwrap();
        server
            .empty_table(&session, "spanflow_test.cir_stream")
            .await;
        session
    });
    let output = scratch.path("per-minute.jsonl");
    let child = stream::start_with_config(&spec, &bootstrap, &output, &config);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = rt.block_on(table_json(&session, &program, "cir_stream"));
        if got.len() >= want.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} rows in the table:\n{}",
            got.len(),
            want.len(),
            stream::log_of(&output)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    stream::stop_gracefully(child, &output);
    assert_eq!(
        rt.block_on(table_json(&session, &program, "cir_stream")),
        want
    );
}
