//! Lookups against kassandra (an in-memory CQL server started inside each test; the join tests
//! use the cluster in `SCYLLA_NODES` instead when that is set): the shipped
//! `play_time_by_cdn_tier` spec joined with a CDN table, compared with a computation by hand;
//! several rows for a key read page by page; tables that do not match the spec; and a cluster
//! that goes away and comes back.
//!
//! kassandra needs `await_schema_agreement: false`, `fetch_schema_metadata: false` and
//! `using_timestamp: false` (see `scylla_sink.rs`).

use crate::specs::repo_root;
use crate::support::cql::Kassandra;
use crate::support::cql_server::CqlServer;
use scylla::client::session::Session;
use serde_json::Value;
use spanflow::app::run_program_on_file_with_lookups;
use spanflow::config::ScyllaConfig;
use spanflow::generate::{video_sessions, GenConfig, Heartbeat};
use spanflow::lookup::{
    Enricher, Fetched, Joined, KeyValue, LookupSource, RetryPolicy, ScyllaLookups,
    DEFAULT_PAGE_SIZE,
};
use spanflow::sink::connect_session;
use spanflow::spec_file::load;
use spanflow_engine::{FieldValue, Record};
use spanflow_operators::Program;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The settings kassandra needs.
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn run_cql(session: &Session, statements: &[&str]) {
    for s in statements {
        session
            .query_unpaged(*s, ())
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

const KEYSPACE: &str = "CREATE KEYSPACE IF NOT EXISTS spanflow_ref WITH replication = \
                        {'class': 'SimpleStrategy', 'replication_factor': 1}";

/// The keyspace and CDN table of the shipped spec.
const CDNS: &[&str] = &[
    KEYSPACE,
    "CREATE TABLE IF NOT EXISTS spanflow_ref.cdns (name text PRIMARY KEY, tier text, \
     max_bitrate_kbps double)",
];

/// Creates the CDN table of the shipped spec: CDN1 and CDN2 have rows, CDN3 has none.
async fn cdn_table(session: &Session) {
    run_cql(session, CDNS).await;
    // Bound values: kassandra's parser reads no float literals.
    for (name, tier, cap) in [("CDN1", "premium", 8000.0), ("CDN2", "standard", 2500.0)] {
        session
            .query_unpaged(
                "INSERT INTO spanflow_ref.cdns (name, tier, max_bitrate_kbps) VALUES (?, ?, ?)",
                (name, tier, cap),
            )
            .await
            .unwrap();
    }
}

fn tier_spec() -> Program {
    let path = repo_root().join("dag-specs/video/play_time_by_cdn_tier.yaml");
    load(&path)
        .program
        .unwrap_or_else(|e| panic!("the shipped spec is valid: {e:?}"))
}

/// Premium play time and time over the cap of one session, in ms, the obvious way: walk the
/// gaps between consecutive events with the state after each event. An event's CDN sets the
/// tier and cap only when the table has a row for it (`on_missing: null_fields` emits nothing,
/// so the states keep their values).
fn by_hand(events: &[&Heartbeat], table: &HashMap<&str, (&str, f64)>) -> (i64, i64) {
    let (mut state, mut tier, mut cap, mut bitrate) = (None, None, None, None);
    let (mut premium, mut over) = (0, 0);
    for pair in events.windows(2) {
        let (e, next) = (pair[0], pair[1]);
        state = e.player_state.as_deref().or(state);
        if let Some((t, c)) = e.cdn.as_deref().and_then(|c| table.get(c)) {
            tier = Some(*t);
            cap = Some(*c);
        }
        bitrate = e.bitrate_kbps.map(f64::from).or(bitrate);
        let gap = next.timestamp - e.timestamp;
        if state == Some("play") && tier == Some("premium") {
            premium += gap;
        }
        if matches!((bitrate, cap), (Some(b), Some(c)) if b > c) {
            over += gap;
        }
    }
    (premium, over)
}

/// Checks JSON-lines rows of the tier spec against [`by_hand`].
fn check_rows(text: &str) {
    let events = video_sessions(&GenConfig::default());
    let mut sessions: BTreeMap<&str, Vec<&Heartbeat>> = BTreeMap::new();
    for e in &events {
        sessions.entry(&e.session_id).or_default().push(e);
    }
    let table: HashMap<&str, (&str, f64)> = [
        ("CDN1", ("premium", 8000.0)),
        ("CDN2", ("standard", 2500.0)),
    ]
    .into();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), sessions.len(), "{text}");
    let (mut premium_sessions, mut over_sessions) = (0, 0);
    for row in &rows {
        let session = row["session"].as_str().unwrap();
        let (premium, over) = by_hand(&sessions[session], &table);
        let got = |c: &str| row[c].as_f64().unwrap();
        assert!(
            (got("premium_play_secs") - premium as f64 / 1000.0).abs() < 1e-6
                && (got("over_cap_secs") - over as f64 / 1000.0).abs() < 1e-6,
            "session {session}: by hand {premium} ms premium, {over} ms over the cap; the run gave {row}"
        );
        premium_sessions += usize::from(premium > 0);
        over_sessions += usize::from(over > 0);
    }
    // The comparison means something only if the data exercises both columns.
    assert!(premium_sessions > 0 && over_sessions > 0, "{text}");
}

#[test]
fn the_tier_spec_joins_a_cql_table_end_to_end() {
    let server = CqlServer::start();
    let rt = runtime();
    let config = server.config();
    let program = tier_spec();
    rt.block_on(async {
        let session = connect_session(&config).await.unwrap();
        cdn_table(&session).await;
    });
    let source = rt
        .block_on(ScyllaLookups::connect(
            &program.input.lookups,
            &config,
            DEFAULT_PAGE_SIZE,
        ))
        .unwrap();
    let mut enricher = Enricher::new(&program, Box::new(source));
    let mut out = Vec::new();
    let heartbeats = repo_root().join("fixtures/generated/heartbeats-small.avro");
    let summary = run_program_on_file_with_lookups(
        &program,
        &heartbeats,
        None,
        &mut out,
        Some(&mut enricher),
    )
    .unwrap();
    assert!(summary.records > 0);
    let text = String::from_utf8(out).unwrap();
    check_rows(&text);
    let stats = enricher.stats();
    // Three CDNs, each fetched once; CDN3 (no row) is cached as missing.
    assert_eq!(stats.fetches, 3, "{stats:?}");
    assert!(stats.cache_hits > 0 && stats.missing > 0, "{stats:?}");
    assert_eq!(stats.dropped, 0);

    // The command line does the same with the cluster from --config.
    let dir = std::env::temp_dir().join(format!("spanflow-lookups-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_file = dir.join("config.yaml");
    std::fs::write(&config_file, server.config_yaml()).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .arg("run")
        .arg(repo_root().join("dag-specs/video/play_time_by_cdn_tier.yaml"))
        .arg("--input")
        .arg(&heartbeats)
        .arg("--config")
        .arg(&config_file)
        .env_remove("SCYLLA_NODES")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cli = String::from_utf8(output.stdout).unwrap();
    check_rows(&cli);
    assert_eq!(cli, text);
}

/// The shipped tier spec with `from` replaced by `to`, loaded with its schema.
fn tier_spec_with(name: &str, from: &str, to: &str) -> Program {
    let path = repo_root().join("dag-specs/video/play_time_by_cdn_tier.yaml");
    let schema = repo_root().join("fixtures/avro/heartbeat.avsc");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    let yaml = text.replace(from, to).replace(
        "../../fixtures/avro/heartbeat.avsc",
        &schema.display().to_string(),
    );
    let file = std::env::temp_dir().join(format!("spanflow-{name}-{}.yaml", std::process::id()));
    std::fs::write(&file, yaml).unwrap();
    let loaded = load(&file);
    let _ = std::fs::remove_file(&file);
    loaded.program.unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn spec_tests_join_the_rows_they_give() {
    let outcome = |program: &Program| {
        spanflow::spec_test::run_all(program)
            .into_iter()
            .next()
            .unwrap()
            .result
    };
    assert_eq!(outcome(&tier_spec()), Ok(()));
    // A higher cap on CDN2: never over it, so the expectation of 6 s fails.
    let higher = tier_spec_with(
        "cap",
        "max_bitrate_kbps: 2500 }",
        "max_bitrate_kbps: 5000 }",
    );
    let diff = outcome(&higher).unwrap_err();
    assert!(diff.contains("\"over_cap_secs\":0}"), "{diff}");
    let typo = tier_spec_with("typo", "tier: standard,", "teir: standard,");
    assert_eq!(
        outcome(&typo).unwrap_err(),
        "lookups.cdn_info[1]: `teir` is not a column of the lookup (columns: name, max_bitrate_kbps, tier)"
    );
    let bad = tier_spec_with(
        "bad",
        "max_bitrate_kbps: 2500 }",
        "max_bitrate_kbps: lots }",
    );
    assert_eq!(
        outcome(&bad).unwrap_err(),
        "lookups.cdn_info[1]: column `max_bitrate_kbps` is double (f64), but the row gives \"lots\""
    );
}

#[test]
fn drop_event_drops_events_of_cdns_without_a_row() {
    let server = CqlServer::start();
    let rt = runtime();
    let config = server.config();
    let program = tier_spec_with("drop", "on_missing: null_fields", "on_missing: drop_event");
    rt.block_on(async {
        let session = connect_session(&config).await.unwrap();
        cdn_table(&session).await;
    });
    let source = rt
        .block_on(ScyllaLookups::connect(
            &program.input.lookups,
            &config,
            DEFAULT_PAGE_SIZE,
        ))
        .unwrap();
    let mut enricher = Enricher::new(&program, Box::new(source));
    let key_slot = |path: &str| {
        program
            .input
            .fields
            .iter()
            .position(|(p, _)| p == path)
            .unwrap()
    };
    let record = |cdn: Option<&str>| {
        let mut r = Record::default();
        r.fields
            .resize(program.input.fields.len(), FieldValue::Null);
        r.fields[key_slot("cdn")] = cdn.map_or(FieldValue::Null, |c| FieldValue::Str(c.into()));
        r
    };
    let tier = program.input.lookups[0].column("tier").unwrap().slot;
    let mut r = record(Some("CDN2"));
    assert_eq!(enricher.enrich("s", &mut r).unwrap(), Joined::Keep);
    assert_eq!(r.fields[tier], FieldValue::Str("standard".into()));
    let mut r = record(Some("CDN3"));
    assert_eq!(enricher.enrich("s", &mut r).unwrap(), Joined::Drop);
    // Heartbeats without a CDN have no key: dropped too (an inner join).
    let mut r = record(None);
    assert_eq!(enricher.enrich("s", &mut r).unwrap(), Joined::Drop);
    assert_eq!(enricher.stats().dropped, 2);
    assert_eq!(enricher.stats().fetches, 2);
}

/// A lookup on `spanflow_ref.versions`, whose partitions hold several rows.
fn versions_spec(policy: &str) -> Program {
    let yaml = format!(
        r#"
name: versions
input:
  session_key: k
  time: t
  lookups:
    - name: v
      key: cdn
      keyspace: spanflow_ref
      table: versions
      key_column: name
      columns: {{ tier: text, valid_from: int }}
      on_multiple_rows: {policy}
nodes:
  - {{ id: events, op: event_source }}
  - {{ id: tier, op: get, inputs: [events], with: {{ field: v.tier }} }}
outputs:
  - {{ name: o, evaluate_at: every_event, columns: [tier] }}
"#
    );
    Program::parse(&yaml, None).unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn several_rows_for_a_key_join_the_first_or_last_in_clustering_order() {
    let server = CqlServer::start();
    let rt = runtime();
    let config = server.config();
    rt.block_on(async {
        let session = connect_session(&config).await.unwrap();
        run_cql(
            &session,
            &[
                KEYSPACE,
                "CREATE TABLE IF NOT EXISTS spanflow_ref.versions (name text, valid_from int, \
                 tier text, PRIMARY KEY ((name), valid_from))",
            ],
        )
        .await;
        // Inserted out of order: the table keeps them in clustering order.
        for (from, tier) in [(3, "c"), (1, "a"), (5, "e"), (2, "b"), (4, "d")] {
            session
                .query_unpaged(
                    "INSERT INTO spanflow_ref.versions (name, valid_from, tier) VALUES (?, ?, ?)",
                    ("CDN1", from, tier),
                )
                .await
                .unwrap();
        }
        session
            .query_unpaged(
                "INSERT INTO spanflow_ref.versions (name, valid_from, tier) VALUES ('CDN2', 7, 'only')",
                (),
            )
            .await
            .unwrap();
    });
    let key = |k: &str| KeyValue::Str(k.into());
    let row = |tier: &str, from: f64| -> Option<spanflow::lookup::LookupRow> {
        Some(
            [FieldValue::Str(tier.into()), FieldValue::F64(from)]
                .into_iter()
                .collect(),
        )
    };
    // Two rows per page: `last` reads all three pages of CDN1.
    for (policy, cdn1) in [
        (
            "first",
            Fetched {
                row: row("a", 1.0),
                rows_read: 2,
            },
        ),
        (
            "last",
            Fetched {
                row: row("e", 5.0),
                rows_read: 5,
            },
        ),
    ] {
        let program = versions_spec(policy);
        let source = rt
            .block_on(ScyllaLookups::connect(&program.input.lookups, &config, 2))
            .unwrap();
        assert_eq!(source.fetch(0, &key("CDN1")).unwrap(), cdn1, "{policy}");
        assert_eq!(
            source.fetch(0, &key("CDN2")).unwrap(),
            Fetched {
                row: row("only", 7.0),
                rows_read: 1
            },
            "{policy}"
        );
        assert_eq!(
            source.fetch(0, &key("CDN9")).unwrap(),
            Fetched::default(),
            "{policy}"
        );
        // The enricher counts keys with several rows.
        let mut enricher = Enricher::new(&program, Box::new(source));
        for cdn in ["CDN1", "CDN2", "CDN1"] {
            let mut r = Record::default();
            r.fields.push(FieldValue::Str(cdn.into()));
            enricher.enrich("s", &mut r).unwrap();
        }
        assert_eq!(enricher.stats().several_rows, 1, "{policy}");
        assert_eq!(enricher.stats().fetches, 2, "{policy}");
    }
}

/// The startup error of the tier spec's lookup against a `cdns` table made by `ddl`.
fn startup_error(ddl: &str) -> spanflow::lookup::LookupSetupError {
    let server = Kassandra::start();
    let rt = runtime();
    let config = config(server.node());
    rt.block_on(async {
        let session = connect_session(&config).await.unwrap();
        run_cql(&session, &[KEYSPACE]).await;
        if !ddl.is_empty() {
            run_cql(&session, &[ddl]).await;
        }
    });
    rt.block_on(ScyllaLookups::connect(
        &tier_spec().input.lookups,
        &config,
        DEFAULT_PAGE_SIZE,
    ))
    .unwrap_err()
}

#[test]
fn a_column_of_another_type_fails_at_startup_naming_it() {
    let e = startup_error(
        "CREATE TABLE spanflow_ref.cdns (name text PRIMARY KEY, tier int, max_bitrate_kbps double)",
    );
    assert!(!e.is_retryable(), "{e:?}");
    assert_eq!(
        e.to_string(),
        "lookup `cdn_info` (keyspace `spanflow_ref`, table `cdns`): column `tier` is int in the \
         table, but the spec declares text"
    );
}

#[test]
fn a_key_column_of_another_type_fails_at_startup_naming_it() {
    let e = startup_error(
        "CREATE TABLE spanflow_ref.cdns (name int PRIMARY KEY, tier text, max_bitrate_kbps double)",
    );
    assert!(!e.is_retryable(), "{e:?}");
    assert_eq!(
        e.to_string(),
        "lookup `cdn_info` (keyspace `spanflow_ref`, table `cdns`): key column `name` is int, \
         but the key (field `cdn`) is string"
    );
}

#[test]
fn a_missing_table_or_column_fails_at_startup_naming_it() {
    let e = startup_error("");
    assert!(!e.is_retryable(), "{e:?}");
    let m = e.to_string();
    assert!(
        m.starts_with("lookup `cdn_info` (keyspace `spanflow_ref`, table `cdns`): preparing `SELECT max_bitrate_kbps, tier FROM spanflow_ref.cdns WHERE name = ?` failed"),
        "{m}"
    );
    let e = startup_error("CREATE TABLE spanflow_ref.cdns (name text PRIMARY KEY, tier text)");
    assert!(!e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains("table `cdns`"), "{e}");
}

#[test]
fn an_unreachable_cluster_is_retried_until_it_comes_back() {
    let program = tier_spec();
    let rt = runtime();
    let server = Kassandra::start();
    let mut config = config(server.node());
    config.request_timeout_secs = 2;
    rt.block_on(async {
        let session = connect_session(&config).await.unwrap();
        cdn_table(&session).await;
    });
    let source = rt
        .block_on(ScyllaLookups::connect(
            &program.input.lookups,
            &config,
            DEFAULT_PAGE_SIZE,
        ))
        .unwrap();
    let mut enricher = Enricher::new(&program, Box::new(source)).with_retry(RetryPolicy {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    });
    let slot = program
        .input
        .fields
        .iter()
        .position(|(p, _)| p == "cdn")
        .unwrap();
    let mut r = Record::default();
    r.fields
        .resize(program.input.fields.len(), FieldValue::Null);
    r.fields[slot] = FieldValue::Str("CDN1".into());
    // The cluster goes away (every connection dropped, new ones refused) ...
    server.outage();
    // ... and comes back on the same port a little later, with its table: as a restarted node
    // does, it serves its tables from its first accepted connection. (A fresh, empty server
    // whose table the test created after it listened could be reached in between, under load,
    // and a missing table is rightly a permanent error for the lookup.)
    let joined = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            server.resume();
        });
        enricher.enrich("s", &mut r)
    });
    assert_eq!(joined.unwrap(), Joined::Keep);
    let lookup = &program.input.lookups[0];
    assert_eq!(
        (
            &r.fields[lookup.column("tier").unwrap().slot],
            &r.fields[lookup.column("max_bitrate_kbps").unwrap().slot]
        ),
        (&FieldValue::Str("premium".into()), &FieldValue::F64(8000.0)),
        "joined once the cluster is back, not nulls"
    );
    assert!(enricher.stats().retries > 0, "{:?}", enricher.stats());
}

/// `spanflow run` on a Kafka source (librdkafka's mock cluster) with the CDN lookup: the rows
/// are those of a file run of the same spec and table.
#[test]
fn a_kafka_stream_joins_the_lookup() {
    use crate::stream;
    let server = CqlServer::start();
    let rt = runtime();
    rt.block_on(async {
        let session = connect_session(&server.config()).await.unwrap();
        cdn_table(&session).await;
    });
    let (_cluster, bootstrap) = stream::mock_cluster("lookups");
    stream::produce(&bootstrap, "heartbeats");
    let scratch = stream::Scratch::new("lookups");
    let schema = repo_root().join("fixtures/avro/heartbeat.avsc");
    let text = std::fs::read_to_string(repo_root().join("dag-specs/video/play_time_by_cdn_tier.yaml"))
        .unwrap()
        .replace(
            "  schema: ../../fixtures/avro/heartbeat.avsc\n",
            &format!(
                "  schema: {}\n  session_gap_secs: 60\n  source:\n    kafka:\n      topics: [heartbeats]\n      group_id: lookups\n",
                schema.display()
            ),
        );
    assert!(text.contains("group_id: lookups"));
    let spec = scratch.path("tiers.yaml");
    std::fs::write(&spec, text).unwrap();
    let config = scratch.path("config.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka:\n  consumer_properties: {{ session.timeout.ms: \"3000\", heartbeat.interval.ms: \"300\" }}\n\
             delivery: {{ commit_interval_ms: 200 }}\n\
             {}",
            server.config_yaml()
        ),
    )
    .unwrap();
    // The file run of the same messages and table.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .arg("run")
        .arg(&spec)
        .arg("--input")
        .arg(repo_root().join("fixtures/generated/heartbeats-small.framed"))
        .arg("--schemas")
        .arg(repo_root().join("fixtures/avro/registry"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file_rows = stream::keyed(&String::from_utf8(out.stdout).unwrap());
    assert!(!file_rows.is_empty());

    let output = scratch.path("tiers.jsonl");
    let child = stream::start_with_config(&spec, &bootstrap, &output, &config);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = stream::keyed(&std::fs::read_to_string(&output).unwrap_or_default());
        if got.len() >= file_rows.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} rows:\n{}",
            got.len(),
            file_rows.len(),
            stream::log_of(&output)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stream::stop_gracefully(child, &output);
    let got = stream::keyed(&std::fs::read_to_string(&output).unwrap());
    for (key, rows) in &got {
        let want = &file_rows[key];
        for row in rows {
            assert_eq!(row, &want[0], "{key:?}");
        }
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        file_rows.keys().collect::<Vec<_>>()
    );
    // The joined values matter: some session played on a premium CDN.
    assert!(
        got.values()
            .flatten()
            .any(|r| r["premium_play_secs"].as_f64().unwrap_or(0.0) > 0.0),
        "{got:?}"
    );
}

#[test]
fn validate_with_environment_checks_the_lookup_tables() {
    let server = CqlServer::start();
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("spanflow-lookup-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_file = dir.join("config.yaml");
    std::fs::write(&config_file, server.config_yaml()).unwrap();
    let validate = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
            .arg("validate")
            .arg(repo_root().join("dag-specs/video/play_time_by_cdn_tier.yaml"))
            .arg("--with-environment")
            .arg("--config")
            .arg(&config_file)
            .env_remove("SCYLLA_NODES")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, stdout) = validate();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("  ✗ lookup `cdn_info` ← scylla table spanflow_ref.cdns: lookup `cdn_info` (keyspace `spanflow_ref`, table `cdns`): preparing"),
        "{stdout}"
    );
    rt.block_on(async {
        let session = connect_session(&server.config()).await.unwrap();
        cdn_table(&session).await;
    });
    let (code, stdout) = validate();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("  ✓ lookup `cdn_info` ← scylla table spanflow_ref.cdns"),
        "{stdout}"
    );
}
