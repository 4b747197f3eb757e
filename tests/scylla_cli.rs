//! The ScyllaDB commands as users run them: `spanflow scylla ddl [--apply]`,
//! `spanflow validate --with-environment`, and `spanflow run --input` into a table, against
//! kassandra or the cluster in `SCYLLA_NODES`.

use crate::specs::repo_root;
use crate::support::cql::Kassandra;
use crate::support::cql_server::{skip_without_cluster, CqlServer};
use scylla::client::session::Session;
use scylla::value::CqlTimestamp;
use serde_json::{json, Value};
use spanflow::output::scalar_to_json;
use spanflow::sink::{connect_session, OutputsMeta, TableLayout};
use spanflow::spec_file::load;
use spanflow_engine::Scalar;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("spanflow-cql-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The CIR spec with its per-session output going to `keyspace.table`, with the time column
/// and one output column renamed, written into `scratch`.
fn cir_into_table(scratch: &Scratch, table: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(
        repo_root().join("dag-specs/video/connection_induced_rebuffering.yaml"),
    )
    .unwrap();
    let schema = repo_root().join("fixtures/avro/heartbeat.avsc");
    let text = text
        .replace(
            "  schema: ../../fixtures/avro/heartbeat.avsc\n",
            &format!("  schema: {}\n", schema.display()),
        )
        .replace(
            "    columns: [cir_secs_cdn1, cir_secs_all_cdns]\n",
            &format!(
                "    columns: [cir_secs_cdn1, cir_secs_all_cdns]\n    sink:\n      scylla:\n        \
                 keyspace: spanflow_cli\n        table: {table}\n        time_column: evaluated_at\n        \
                 columns: {{ cir_secs_cdn1: cdn1_secs }}\n{extra}"
            ),
        );
    assert!(
        text.contains(&format!("table: {table}")),
        "the CIR spec changed shape"
    );
    let path = scratch.path(&format!("{table}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn config_file(scratch: &Scratch, server: &CqlServer) -> PathBuf {
    let path = scratch.path("config.yaml");
    std::fs::write(&path, server.config_yaml()).unwrap();
    path
}

fn spanflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args(args)
        .current_dir(repo_root())
        .env("RUST_LOG", "info")
        .env_remove("SPANFLOW_CONFIG")
        .output()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The JSON lines of the same spec, written to JSON only (`--stdout-only`), as values sorted
/// by session and time.
fn json_run(spec: &Path, input: &Path) -> Vec<Value> {
    let out = spanflow(&["run", s(spec), "--input", s(input), "--stdout-only"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut rows: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["output"] == "cir_per_session")
        .collect();
    rows.sort_by_key(|v| {
        (
            v["session"].as_str().unwrap().to_owned(),
            v["time"].as_i64(),
        )
    });
    rows
}

/// The table's rows in the same JSON shape.
async fn table_rows(session: &Session, table: &str) -> Vec<Value> {
    let result = session
        .query_unpaged(
            format!(
                "SELECT session, evaluated_at, cdn1_secs, cir_secs_all_cdns FROM spanflow_cli.{table}"
            ),
            (),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut rows: Vec<Value> = result
        .rows::<(String, CqlTimestamp, Option<f64>, Option<f64>)>()
        .unwrap()
        .map(|r| {
            let (session, time, cdn1, all) = r.unwrap();
            json!({
                "output": "cir_per_session",
                "session": session,
                "time": time.0,
                "cir_secs_cdn1": scalar_to_json(cdn1.map(Scalar::F64).as_ref()),
                "cir_secs_all_cdns": scalar_to_json(all.map(Scalar::F64).as_ref()),
            })
        })
        .collect();
    rows.sort_by_key(|v| {
        (
            v["session"].as_str().unwrap().to_owned(),
            v["time"].as_i64(),
        )
    });
    rows
}

#[test]
fn layouts_follow_the_spec_s_column_names_and_ttl() {
    let scratch = Scratch::new("layout");
    let spec = cir_into_table(&scratch, "cir_layout", "        ttl_secs: 86400\n");
    let program = load(&spec).program.unwrap();
    let targets = spanflow::sink::scylla_targets(&program);
    let layout = TableLayout::of(&OutputsMeta::of(&program), targets[0].0, &targets[0].1).unwrap();
    assert_eq!(layout.session_column, "session");
    assert_eq!(layout.time_column, "evaluated_at");
    assert_eq!(layout.columns, ["cdn1_secs", "cir_secs_all_cdns"]);
    assert_eq!(
        layout.insert(true),
        "INSERT INTO spanflow_cli.cir_layout (session, evaluated_at, cdn1_secs, \
         cir_secs_all_cdns) VALUES (?, ?, ?, ?) USING TIMESTAMP ? AND TTL 86400"
    );
    assert_eq!(
        layout.insert(false),
        "INSERT INTO spanflow_cli.cir_layout (session, evaluated_at, cdn1_secs, \
         cir_secs_all_cdns) VALUES (?, ?, ?, ?) USING TTL 86400"
    );
}

#[test]
fn scylla_ddl_prints_applies_and_validate_checks_the_tables() {
    let server = CqlServer::start();
    let scratch = Scratch::new("ddl");
    let config = config_file(&scratch, &server);
    let spec = cir_into_table(&scratch, "cir_ddl", "");

    let printed = spanflow(&["scylla", "ddl", s(&spec)]);
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    insta::assert_snapshot!(text(&printed.stdout));

    // Before the tables exist, the environment check fails naming the table.
    let before = spanflow(&[
        "validate",
        s(&spec),
        "--with-environment",
        "--config",
        s(&config),
    ]);
    let stdout = text(&before.stdout);
    if !server.is_cluster() {
        assert_eq!(before.status.code(), Some(1), "{stdout}");
        assert!(
            stdout.contains("✗ output `cir_per_session` → scylla table spanflow_cli.cir_ddl"),
            "{stdout}"
        );
    }

    let applied = spanflow(&["scylla", "ddl", s(&spec), "--apply", "--config", s(&config)]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    // Applying twice changes nothing.
    let again = spanflow(&["scylla", "ddl", s(&spec), "--apply", "--config", s(&config)]);
    assert!(again.status.success(), "{}", text(&again.stderr));

    let after = spanflow(&[
        "validate",
        s(&spec),
        "--with-environment",
        "--config",
        s(&config),
    ]);
    let stdout = text(&after.stdout);
    assert!(after.status.success(), "{stdout}{}", text(&after.stderr));
    assert!(
        stdout.contains("✓ output `cir_per_session` → scylla table spanflow_cli.cir_ddl"),
        "{stdout}"
    );

    // A table whose column has another type than the output writes.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let session = connect_session(&server.config()).await.unwrap();
        session
            .query_unpaged(
                "CREATE TABLE IF NOT EXISTS spanflow_cli.cir_mistyped (session text, evaluated_at \
                 timestamp, cdn1_secs text, cir_secs_all_cdns double, PRIMARY KEY ((session), \
                 evaluated_at))",
                (),
            )
            .await
            .unwrap();
    });
    let mistyped = cir_into_table(&scratch, "cir_mistyped", "");
    let checked = spanflow(&[
        "validate",
        s(&mistyped),
        "--with-environment",
        "--config",
        s(&config),
    ]);
    let stdout = text(&checked.stdout);
    assert_eq!(checked.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("✓ "), "the spec itself is valid: {stdout}");
    assert!(stdout.contains("table `cir_mistyped`"), "{stdout}");
    assert!(stdout.contains("column `cdn1_secs`"), "{stdout}");

    // A run into that table stops at startup with the same message.
    let run = spanflow(&[
        "run",
        s(&mistyped),
        "--input",
        "fixtures/generated/heartbeats-small.avro",
        "--config",
        s(&config),
    ]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("column `cdn1_secs`"), "{stderr}");
}

#[test]
fn a_file_run_fills_a_table_equal_to_its_json_lines_and_a_replay_changes_nothing() {
    let server = CqlServer::start();
    let scratch = Scratch::new("file-run");
    let config = config_file(&scratch, &server);
    let spec = cir_into_table(&scratch, "cir_file_run", "");
    let input = repo_root().join("fixtures/generated/heartbeats-small.avro");
    let applied = spanflow(&["scylla", "ddl", s(&spec), "--apply", "--config", s(&config)]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(connect_session(&server.config())).unwrap();
    rt.block_on(server.empty_table(&session, "spanflow_cli.cir_file_run"));

    let want = json_run(&spec, &input);
    assert_eq!(want.len(), 20, "one row per session");
    for attempt in ["first run", "replay"] {
        let out = spanflow(&[
            "run",
            s(&spec),
            "--input",
            s(&input),
            "--config",
            s(&config),
        ]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{attempt}: {stderr}");
        assert!(stderr.contains("rows_written=20"), "{attempt}: {stderr}");
        // Nothing goes to stdout: the only output writes to the table.
        assert_eq!(text(&out.stdout), "", "{attempt}");
        let got = rt.block_on(table_rows(&session, "cir_file_run"));
        assert_eq!(got, want, "{attempt}");
    }
}

#[test]
fn a_spec_with_a_table_output_runs_dry_without_a_cluster() {
    let scratch = Scratch::new("dry");
    let spec = cir_into_table(&scratch, "cir_dry", "");
    let input = repo_root().join("fixtures/generated/heartbeats-small.avro");
    // Without --stdout-only the run needs a cluster and says how to give one.
    let config = scratch.path("empty.yaml");
    std::fs::write(&config, "{}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args([
            "run",
            s(&spec),
            "--input",
            s(&input),
            "--config",
            s(&config),
        ])
        .env_remove("SCYLLA_NODES")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("scylla.nodes"), "{stderr}");
    assert!(stderr.contains("SCYLLA_NODES"), "{stderr}");
    assert_eq!(json_run(&spec, &input).len(), 20);
}

#[test]
fn rows_expire_after_the_ttl_on_a_real_cluster() {
    if skip_without_cluster("rows_expire_after_the_ttl_on_a_real_cluster") {
        return;
    }
    let server = CqlServer::start();
    let scratch = Scratch::new("ttl");
    let config = config_file(&scratch, &server);
    let spec = cir_into_table(&scratch, "cir_ttl", "        ttl_secs: 3\n");
    let input = repo_root().join("fixtures/generated/heartbeats-small.avro");
    let applied = spanflow(&["scylla", "ddl", s(&spec), "--apply", "--config", s(&config)]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(connect_session(&server.config())).unwrap();
    rt.block_on(server.empty_table(&session, "spanflow_cli.cir_ttl"));
    let out = spanflow(&[
        "run",
        s(&spec),
        "--input",
        s(&input),
        "--config",
        s(&config),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(rt.block_on(table_rows(&session, "cir_ttl")).len(), 20);
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(rt.block_on(table_rows(&session, "cir_ttl")).len(), 0);
}

#[test]
fn replayed_rows_keep_their_event_time_write_timestamp_on_a_real_cluster() {
    if skip_without_cluster("replayed_rows_keep_their_event_time_write_timestamp_on_a_real_cluster")
    {
        return;
    }
    let server = CqlServer::start();
    let scratch = Scratch::new("writetime");
    let config = config_file(&scratch, &server);
    let spec = cir_into_table(&scratch, "cir_writetime", "");
    let input = repo_root().join("fixtures/generated/heartbeats-small.avro");
    let applied = spanflow(&["scylla", "ddl", s(&spec), "--apply", "--config", s(&config)]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(connect_session(&server.config())).unwrap();
    rt.block_on(server.empty_table(&session, "spanflow_cli.cir_writetime"));
    let out = spanflow(&[
        "run",
        s(&spec),
        "--input",
        s(&input),
        "--config",
        s(&config),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result = rt
        .block_on(session.query_unpaged(
            "SELECT evaluated_at, WRITETIME(cir_secs_all_cdns) FROM spanflow_cli.cir_writetime",
            (),
        ))
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut n = 0;
    for row in result.rows::<(CqlTimestamp, Option<i64>)>().unwrap() {
        let (time, written) = row.unwrap();
        if let Some(written) = written {
            assert_eq!(
                written,
                time.0 * 1000,
                "USING TIMESTAMP is the evaluation time in µs"
            );
            n += 1;
        }
    }
    assert!(n > 0);
}

#[test]
fn a_run_started_while_the_cql_server_is_away_waits_for_it() {
    // kassandra's outage switch: this one never runs on a real cluster.
    let server = CqlServer::Kassandra(Kassandra::start());
    let CqlServer::Kassandra(kassandra) = &server else {
        unreachable!()
    };
    let scratch = Scratch::new("late-server");
    let config = config_file(&scratch, &server);
    let spec = cir_into_table(&scratch, "cir_late_server", "");
    let applied = spanflow(&["scylla", "ddl", s(&spec), "--apply", "--config", s(&config)]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    kassandra.outage();

    let log = scratch.path("run.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args([
            "run",
            s(&spec),
            "--input",
            "fixtures/generated/heartbeats-small.avro",
        ])
        .args(["--config", s(&config)])
        .current_dir(repo_root())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !log_text().contains("Not reachable yet; retrying.") {
        assert!(
            std::time::Instant::now() < deadline,
            "no retry logged:\n{}",
            log_text()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run gave up:\n{}",
            log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    kassandra.resume();
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", log_text());
    assert!(
        log_text().contains("Connected after retrying."),
        "{}",
        log_text()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(connect_session(&server.config())).unwrap();
    let input = repo_root().join("fixtures/generated/heartbeats-small.avro");
    assert_eq!(
        rt.block_on(table_rows(&session, "cir_late_server")),
        json_run(&spec, &input)
    );
}
