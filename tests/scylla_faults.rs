//! The ScyllaDB sink when the cluster goes away: kassandra taken off the network mid-run
//! ([`Kassandra::outage`]) and brought back with its data on the same port, or answering
//! slowly. What the driver does (fails fast and retryably, reconnects by itself), and what a
//! `spanflow run` process does (backs off, pauses the source, keeps its memory bounded, loses
//! nothing, survives kill -9 during the outage), and the process-level startup errors.

use crate::specs::repo_root;
use crate::support::cql::Kassandra;
use scylla::client::session::Session;
use scylla::value::CqlTimestamp;
use spanflow::config::ScyllaConfig;
use spanflow::sink::{connect_session, ddl, OutputsMeta, ScyllaSink, SinkRow, DEFAULT_REPLICATION};
use spanflow::spec_file::load;
use spanflow_engine::Scalar;
use spanflow_operators::evaluate_at::Row;
use spanflow_operators::spec::ScyllaSinkSpec;
use spanflow_operators::Program;
use std::time::{Duration, Instant};

/// The settings kassandra needs (see scylla_sink.rs).
fn config(node: String) -> ScyllaConfig {
    ScyllaConfig {
        nodes: vec![node],
        await_schema_agreement: false,
        fetch_schema_metadata: false,
        using_timestamp: false,
        request_timeout_secs: 5,
        ..ScyllaConfig::default()
    }
}

fn cir() -> Program {
    let path = repo_root().join("dag-specs/video/connection_induced_rebuffering.yaml");
    load(&path).program.expect("the shipped CIR spec is valid")
}

fn target(table: &str) -> Vec<(usize, ScyllaSinkSpec)> {
    vec![(
        0,
        ScyllaSinkSpec {
            keyspace: "spanflow_test".into(),
            table: table.into(),
        },
    )]
}

fn row(session: &str, time: i64) -> SinkRow {
    SinkRow {
        session: session.into(),
        row: Row {
            output: 0,
            time,
            values: [Some(Scalar::F64(time as f64)), None].into_iter().collect(),
        },
    }
}

/// The (session, time) keys of a table of the CIR spec's per-session output.
async fn keys(session: &Session, table: &str) -> Vec<(String, i64)> {
    let result = session
        .query_unpaged(
            format!("SELECT session, time FROM spanflow_test.{table}"),
            (),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut keys: Vec<(String, i64)> = result
        .rows::<(String, CqlTimestamp)>()
        .unwrap()
        .map(|r| {
            let (s, t) = r.unwrap();
            (s, t.0)
        })
        .collect();
    keys.sort();
    keys
}

async fn sink_on(server: &Kassandra, table: &str, config: &ScyllaConfig) -> ScyllaSink {
    let program = cir();
    let meta = OutputsMeta::of(&program);
    let session = connect_session(config).await.unwrap();
    let statements = ddl(&meta, &target(table), DEFAULT_REPLICATION).unwrap();
    ScyllaSink::apply_ddl(&session, &statements).await.unwrap();
    let _ = server;
    ScyllaSink::connect(&meta, &target(table), config)
        .await
        .unwrap()
}

#[test]
fn kassandra_refuses_connections_during_an_outage_and_comes_back_on_its_port() {
    let server = Kassandra::start();
    std::net::TcpStream::connect(server.addr).unwrap();
    server.outage();
    let e = std::net::TcpStream::connect(server.addr).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    server.resume();
    std::net::TcpStream::connect(server.addr).unwrap();
    // Twice in a row works too (the port is re-reserved each time).
    server.outage();
    server.resume();
    std::net::TcpStream::connect(server.addr).unwrap();
}

/// With every connection gone a write fails at once with a retryable error (the driver's pool
/// is empty: no waiting for the request timeout), and the driver reconnects by itself when the
/// node is back: the same sink writes again, and the data written before is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_server_is_down_writes_fail_fast_and_retryably_then_the_driver_reconnects() {
    let server = Kassandra::start();
    let config = config(server.node());
    let sink = sink_on(&server, "outage", &config).await;
    sink.write(&row("before", 1)).await.unwrap();

    server.outage();
    // The first write may still be on a connection the driver has not yet seen break.
    let mut failures = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let e = sink.write(&row("during", i)).await.unwrap_err();
        failures.push((started.elapsed(), e));
    }
    for (took, e) in &failures {
        assert!(e.retryable, "{e}");
        assert!(
            e.message
                .contains("keyspace `spanflow_test`, table `outage`"),
            "{e}"
        );
        assert!(*took < Duration::from_secs(2), "{took:?}: {e}");
    }
    eprintln!("writes during the outage: {failures:?}");

    tokio::time::sleep(Duration::from_secs(3)).await;
    server.resume();
    let back = Instant::now();
    let executed = server.executed();
    loop {
        match sink.write(&row("after", 1)).await {
            Ok(()) => break,
            Err(e) => {
                assert!(e.retryable, "{e}");
                assert!(
                    back.elapsed() < Duration::from_secs(20),
                    "no write 20 s after the server came back: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    eprintln!(
        "first write {:?} after the server came back",
        back.elapsed()
    );
    assert_eq!(server.executed(), executed + 1);
    let session = connect_session(&config).await.unwrap();
    assert_eq!(
        keys(&session, "outage").await,
        [("after".to_string(), 1), ("before".to_string(), 1)]
    );
}

/// A server that answers slower than `request_timeout_secs`: the write fails with a retryable
/// timeout after about that long, and succeeds once the server is fast again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_times_out_retryably() {
    let server = Kassandra::start();
    let mut config = config(server.node());
    config.request_timeout_secs = 1;
    let sink = sink_on(&server, "slow", &config).await;
    server.set_delay(Duration::from_secs(3));
    let started = Instant::now();
    let e = sink.write(&row("slow", 1)).await.unwrap_err();
    let took = started.elapsed();
    assert!(e.retryable, "{e}");
    assert!(
        e.message.contains("timed out") || e.message.contains("timeout"),
        "{e}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    server.set_delay(Duration::ZERO);
    // The late answer to the timed-out write may still land; later writes are prompt.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sink.write(&row("fast", 2)).await.unwrap();
}
