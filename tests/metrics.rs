//! `/metrics`, `/health` and `/ready` of a real streaming run, and the Grafana dashboard's
//! queries against the metrics a run exports.

use crate::stream::{
    clock_messages, file_rows, framed_messages, kafka_spec, mock_cluster, produce, root,
    start_with_config, stop_gracefully, wait_for_rows, Scratch, FIXTURE,
};
use crate::support::kafka::free_port;
use crate::support::prometheus::{dashboard_panels, Prometheus, DASHBOARD};
use prometheus_parse::{Scrape, Value};
use spanflow::metrics::Metrics;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// `GET http://addr/path`: status and body.
pub(crate) fn get(addr: &str, path: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    match agent.get(&format!("http://{addr}{path}")).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

pub(crate) fn scrape(addr: &str) -> Option<Scrape> {
    let (status, body) = get(addr, "/metrics");
    (status == 200).then(|| Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).ok())?
}

/// The sum of a counter or gauge over the samples whose labels include `labels`.
pub(crate) fn total(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

/// `spanflow run` on the fixture's messages (mock cluster) with metrics served on a free port,
/// once every session's rows are out.
struct MeteredRun {
    scratch: Scratch,
    cluster: rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    /// The file run's rows.
    want: std::collections::BTreeMap<(String, i64), serde_json::Value>,
    /// Where `/metrics` is served.
    addr: String,
    output: std::path::PathBuf,
    child: std::process::Child,
}

impl MeteredRun {
    fn start(name: &str) -> MeteredRun {
        let scratch = Scratch::new(name);
        let (cluster, bootstrap) = mock_cluster(name);
        produce(&bootstrap, "heartbeats");
        let spec = kafka_spec(&scratch, "heartbeats", name);
        let want = file_rows(&spec);
        // A race for the port with other processes is possible but harmless: the run would
        // fail to start and say so.
        let addr = format!("127.0.0.1:{}", free_port());
        let config = scratch.path("config.yaml");
        std::fs::write(&config, format!("metrics:\n  listen: {addr}\n")).unwrap();
        let output = scratch.path("out.jsonl");
        let mut child = start_with_config(&spec, &bootstrap, &output, &config);
        wait_for_rows(&mut child, &output, want.len(), Duration::from_secs(60));
        MeteredRun {
            scratch,
            cluster,
            want,
            addr,
            output,
            child,
        }
    }
}

#[test]
fn a_kafka_run_serves_its_metrics_and_probes() {
    let MeteredRun {
        scratch: _scratch,
        cluster: _cluster,
        want,
        addr,
        output,
        child,
    } = MeteredRun::start("metrics");
    let messages = framed_messages(&root().join(FIXTURE)).len() + clock_messages().len();

    // Counters reach the registry within about a second of the work.
    let deadline = Instant::now() + Duration::from_secs(30);
    let scrape = loop {
        let s = scrape(&addr);
        if let Some(s) = &s {
            let consumed = total(s, "spanflow_messages_consumed_total", &[]);
            let written = total(s, "spanflow_sink_rows_written_total", &[]);
            let lag_partitions = s
                .samples
                .iter()
                .filter(|x| x.metric == "spanflow_consumer_lag")
                .count();
            // The DAG's and sessions' counters are added about once a second.
            let stepped = total(s, "spanflow_node_events_out_total", &[("node", "events")]);
            if consumed as usize == messages
                && written as usize >= want.len()
                && lag_partitions == 4
                && stepped as usize == messages - clock_messages().len()
            {
                break s.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "metrics did not catch up: {:?}",
            s.map(|s| s.samples.len())
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let rows = want.len() as f64;
    assert_eq!(total(&scrape, "spanflow_rows_emitted_total", &[]), rows);
    assert_eq!(
        total(&scrape, "spanflow_sink_write_seconds_count", &[]),
        rows
    );
    // Every message reached the DAG's source node once its step ran: all but the clock
    // messages, whose sessions stay open with their event waiting for a later instant. The
    // `get` nodes received everything the source emitted.
    let source_out = total(
        &scrape,
        "spanflow_node_events_out_total",
        &[("node", "events")],
    );
    assert_eq!(source_out, (messages - clock_messages().len()) as f64);
    assert_eq!(
        total(
            &scrape,
            "spanflow_node_events_in_total",
            &[("node", "player_state_updates")]
        ),
        source_out
    );
    assert!(total(&scrape, "spanflow_node_steps_total", &[]) > 0.0);
    assert!(total(&scrape, "spanflow_decode_seconds_count", &[]) > 0.0);
    // Keys are `output/session`.
    let sessions: BTreeSet<&str> = want
        .keys()
        .filter_map(|(key, _)| key.split_once('/').map(|(_, session)| session))
        .collect();
    let opened = total(&scrape, "spanflow_sessions_opened_total", &[]);
    let closed = total(&scrape, "spanflow_sessions_closed_total", &[]);
    assert!(
        opened >= sessions.len() as f64,
        "{opened} opened, {} sessions",
        sessions.len()
    );
    assert!(closed >= sessions.len() as f64, "{closed} closed");
    assert_eq!(
        total(&scrape, "spanflow_open_sessions", &[]),
        opened - closed
    );
    assert!(total(&scrape, "process_resident_memory_bytes", &[]) > 1e6);
    assert_eq!(total(&scrape, "spanflow_errors_total", &[]), 0.0);
    for partition in ["0", "1", "2", "3"] {
        assert!(
            total(
                &scrape,
                "spanflow_messages_consumed_total",
                &[("topic", "heartbeats"), ("partition", partition)]
            ) > 0.0,
            "partition {partition}"
        );
    }
    assert_eq!(get(&addr, "/health"), (200, "ok\n".into()));
    assert_eq!(get(&addr, "/ready"), (200, "ready\n".into()));
    stop_gracefully(child, &output);
    assert_eq!(
        get(&addr, "/ready").0,
        0,
        "the endpoint closes with the process"
    );
}

/// Prometheus (Debian's `prometheus` package) scraping a live run every second, and every
/// query of the dashboard evaluated by it: each must be valid PromQL, and each must return
/// series except those of events this run does not have (dead letters). Skipped without the
/// `prometheus` binary unless `SPANFLOW_REQUIRE_PROMETHEUS=1`.
#[test]
fn prometheus_scraping_a_live_run_answers_every_dashboard_query() {
    if Prometheus::binary().is_none() {
        eprintln!("skipped: prometheus not installed");
        return;
    }
    let MeteredRun {
        scratch,
        cluster: _cluster,
        addr,
        output,
        child,
        ..
    } = MeteredRun::start("metrics-prom");
    let prometheus = Prometheus::start(&scratch.path("prometheus"), "spanflow", &addr).unwrap();
    // Enough scrapes for rates over 10 s windows.
    prometheus.wait_for_scrapes("spanflow", 8.0, Duration::from_secs(60));
    let mut empty = Vec::new();
    for panel in dashboard_panels(&root(), "spanflow", "10s") {
        for target in &panel.targets {
            let answer = prometheus.query(&target.expr);
            assert_eq!(
                answer["status"], "success",
                "{}: `{}`: {answer}",
                panel.title, target.expr
            );
            if answer["data"]["result"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                empty.push(panel.title.clone());
            }
        }
    }
    drop(prometheus);
    stop_gracefully(child, &output);
    assert_eq!(
        empty,
        ["Dead letters / s by reason"],
        "panels without data from a live run (only dead letters may be empty here)"
    );
}

/// Metric names in a PromQL expression: identifiers that are not functions, keywords, labels
/// or Grafana variables.
fn metric_names_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_braces = false;
    let mut token = String::new();
    let mut tokens = Vec::new();
    for c in expr.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '$' {
            token.push(c);
            continue;
        }
        if !token.is_empty() {
            tokens.push((std::mem::take(&mut token), in_braces, c));
        }
        match c {
            '{' => in_braces = true,
            '}' => in_braces = false,
            _ => {}
        }
    }
    for (t, braces, next) in tokens {
        if braces || next == '(' || t.starts_with('$') || t.parse::<f64>().is_ok() {
            continue;
        }
        if t.starts_with("spanflow_") || t.starts_with("process_") {
            names.insert(t);
        }
    }
    names
}

#[test]
fn every_metric_the_dashboard_queries_is_exported() {
    let text = std::fs::read_to_string(root().join(DASHBOARD)).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut queried = BTreeSet::new();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            exprs.push(expr.to_owned());
            queried.extend(metric_names_in(expr));
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"]["query"].as_str() {
            queried.extend(metric_names_in(q));
        }
    }
    let metrics = Metrics::new();
    let exported: BTreeSet<&str> = metrics.names().iter().map(String::as_str).collect();
    let missing: Vec<&String> = queried
        .iter()
        .filter(|q| {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| q.strip_suffix(s))
                .unwrap_or(q);
            !exported.contains(q.as_str()) && !exported.contains(base)
        })
        .collect();
    assert!(missing.is_empty(), "queried but not exported: {missing:?}");
    // What the on-call engineer needs is on it.
    for needed in [
        "spanflow_messages_consumed_total",
        "spanflow_consumer_lag",
        "spanflow_sink_write_seconds_bucket",
        "spanflow_errors_total",
        "process_resident_memory_bytes",
        "spanflow_open_sessions",
    ] {
        assert!(queried.contains(needed), "the dashboard lacks {needed}");
    }
    assert!(exprs.iter().any(
        |e| e.contains("histogram_quantile(0.99") && e.contains("spanflow_sink_write_seconds")
    ));
    // The parser itself: functions, labels and variables are not metric names.
    assert_eq!(
        metric_names_in(
            r#"histogram_quantile(0.5, sum by (le) (rate(spanflow_x_bucket{job=~"$job"}[$__rate_interval])))"#
        ),
        BTreeSet::from(["spanflow_x_bucket".to_owned()])
    );
}

/// A consumer that gets only errors from librdkafka (here a fetch the broker answers with
/// CORRUPT_MESSAGE, as librdkafka reports a batch it cannot decompress) turns `/ready` 503 with
/// the reason, counts the errors by type and logs one line per change of state; once messages
/// arrive it is ready again and the rows are the file run's.
#[test]
fn a_consumer_that_gets_only_errors_turns_not_ready_with_the_reason_and_back() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let name = "stalled";
    let scratch = Scratch::new(name);
    let (cluster, bootstrap) = mock_cluster(name);
    produce(&bootstrap, "heartbeats");
    // Every fetch fails until these run out: about 12 s here, past the 5 s that make a stall.
    cluster.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_MSG; 24],
    );
    let spec = kafka_spec(&scratch, "heartbeats", name);
    let want = file_rows(&spec);
    let addr = format!("127.0.0.1:{}", free_port());
    let config = scratch.path("config.yaml");
    std::fs::write(
        &config,
        format!(
            "metrics:\n  listen: {addr}\nkafka:\n  consumer_properties:\n    \
             session.timeout.ms: \"3000\"\n    heartbeat.interval.ms: \"300\"\n    \
             fetch.error.backoff.ms: \"100\"\ndelivery:\n  commit_interval_ms: 200\n"
        ),
    )
    .unwrap();
    let output = scratch.path("out.jsonl");
    let mut child = start_with_config(&spec, &bootstrap, &output, &config);
    let deadline = Instant::now() + Duration::from_secs(60);
    let why = loop {
        let (status, body) = get(&addr, "/ready");
        if status == 503 && body.contains("cannot make progress") {
            break body;
        }
        assert!(
            child.try_wait().unwrap().is_none() && Instant::now() < deadline,
            "never not ready for the errors (last: {status} {body}):\n{}",
            crate::stream::log_of(&output)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The reason has librdkafka's own text of the error, what it usually means, the topic.
    assert!(
        why.contains("Fetch from broker")
            && why.contains("Invalid message")
            && why.contains("corrupt")
            && why.contains("heartbeats"),
        "{why}"
    );
    let errors = scrape(&addr).map(|s| {
        total(
            &s,
            "spanflow_errors_total",
            &[("type", "kafka_invalid_message")],
        )
    });
    assert!(errors >= Some(3.0), "{errors:?}");
    // The errors run out: messages arrive, every row is written, ready again.
    wait_for_rows(&mut child, &output, want.len(), Duration::from_secs(90));
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&addr, "/ready").0 != 200 {
        assert!(Instant::now() < deadline, "{:?}", get(&addr, "/ready"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&addr, "/health").0, 200);
    stop_gracefully(child, &output);
    let got: std::collections::BTreeMap<_, _> =
        crate::stream::keyed(&std::fs::read_to_string(&output).unwrap())
            .into_iter()
            .map(|(k, mut v)| (k, v.pop().unwrap()))
            .collect();
    assert_eq!(got, want);
    // One line per change of state, not one per error (rdkafka's default logs each).
    let log = crate::stream::log_of(&output);
    assert!(!log.contains("librdkafka: Global error"), "{log}");
    for (line, n) in [
        ("Kafka consumer error", 1),
        ("cannot make progress", 1),
        ("makes progress again", 1),
    ] {
        assert_eq!(log.matches(line).count(), n, "{line}:\n{log}");
    }
}
